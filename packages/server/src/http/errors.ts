import { type ErrorBody, ErrorCode, errorCodes, httpStatusOf, ProtocolError } from '@kolokol/protocol';
import { ZodError } from 'zod';
import { ServerError } from '../errors.ts';

export interface WireError {
  status: number;
  body: ErrorBody;
  /** True when the error is ours to fix (unexpected): the caller logs it. */
  internal: boolean;
}

const knownCodes: ReadonlySet<string> = new Set(errorCodes);
const isErrorCode = (c: string): c is ErrorCode => knownCodes.has(c);

function make(
  code: ErrorCode,
  message: string,
  details?: Readonly<Record<string, unknown>>,
  internal = false,
): WireError {
  const error: ErrorBody['error'] = { code, message };
  if (details !== undefined) error.details = { ...details };
  return { status: httpStatusOf[code], body: { error }, internal };
}

/** Fastify's own errors (body parsing, limits) carry a string `code` and a numeric `statusCode`. */
function fastifyLike(err: unknown): { code: string; statusCode: number; message: string } | undefined {
  if (!(err instanceof Error)) return undefined;
  const code: unknown = Reflect.get(err, 'code');
  const statusCode: unknown = Reflect.get(err, 'statusCode');
  if (typeof statusCode !== 'number') return undefined;
  return { code: typeof code === 'string' ? code : '', statusCode, message: err.message };
}

/**
 * The one place where anything thrown becomes a wire error, for HTTP and WebSocket alike. Unknown
 * errors become INTERNAL with a generic message; the real one is only logged (internal: true).
 */
export function toWire(err: unknown): WireError {
  if (err instanceof ServerError) {
    if (err.code === 'CONFIG') return make(ErrorCode.Internal, 'internal error', undefined, true);
    return make(err.code, err.message, err.details);
  }
  if (err instanceof ProtocolError) return make(err.code, err.message, err.details);
  if (err instanceof ZodError) {
    const problems = err.issues
      .slice(0, 10)
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    return make(ErrorCode.BadRequest, `invalid input: ${problems}`);
  }
  const f = fastifyLike(err);
  if (f !== undefined && f.statusCode >= 400 && f.statusCode < 500) {
    if (f.statusCode === 413 || f.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return make(ErrorCode.PayloadTooLarge, 'request body too large');
    }
    if (f.statusCode === 404) return make(ErrorCode.NotFound, 'not found');
    if (isErrorCode(f.code)) return make(f.code, f.message);
    // Fastify's messages for malformed requests name no secrets (JSON syntax, media type).
    return make(ErrorCode.BadRequest, f.message);
  }
  return make(ErrorCode.Internal, 'internal error', undefined, true);
}
