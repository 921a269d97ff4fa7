import type { z } from 'zod';
import { ErrorCode, ProtocolError } from './errors.ts';

/**
 * Parses untrusted input. Takes `unknown` on purpose so that already-typed values cannot be passed
 * by mistake; a failure lists every path that failed (after Signal-Desktop's parseUnknown).
 */
export function parseUnknown<S extends z.ZodType>(schema: S, value: unknown, what = 'input'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 10)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
  throw new ProtocolError(ErrorCode.BadRequest, `invalid ${what}: ${problems}`, { cause: result.error });
}

/** Parses a JSON text from the wire; bad JSON is a BAD_REQUEST like any other malformed input. */
export function parseJson<S extends z.ZodType>(schema: S, text: string, what = 'input'): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError(ErrorCode.BadRequest, `invalid ${what}: not JSON`, { cause });
  }
  return parseUnknown(schema, value, what);
}
