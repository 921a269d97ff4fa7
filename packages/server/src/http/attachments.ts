import { createReadStream, createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AttachmentId, type AttachmentResponse, ErrorCode, parseUnknown } from '@kolokol/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Auth } from '../auth.ts';
import type { Context } from '../context.ts';
import { randomId } from '../crypto.ts';
import { ServerError } from '../errors.ts';

const Params = z.object({ attachmentId: AttachmentId });

/**
 * Attachments are ciphertext blobs: streamed to a temporary file (never held in memory), flushed,
 * then renamed into place, so a file under its final name is always complete.
 */
export function registerAttachmentRoutes(
  app: FastifyInstance,
  ctx: Context,
  auth: (req: FastifyRequest) => Promise<Auth>,
): void {
  const max = ctx.config.maxAttachmentBytes;
  // Hand the raw stream to the route instead of buffering it (Fastify would apply bodyLimit).
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.post('/v1/attachments', async (req, reply): Promise<AttachmentResponse> => {
    const refuse = (err: ServerError): never => {
      // The unread body may be large: do not keep the connection for a next request.
      reply.header('connection', 'close');
      throw err;
    };
    let a: Auth;
    try {
      a = await auth(req);
    } catch (err) {
      return refuse(
        err instanceof ServerError ? err : new ServerError(ErrorCode.Unauthorized, 'unauthorized'),
      );
    }
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) {
      return refuse(new ServerError(ErrorCode.BadRequest, 'Content-Length is required'));
    }
    const declared = Number(lengthHeader);
    if (declared > max) {
      return refuse(
        new ServerError(ErrorCode.PayloadTooLarge, `attachments are at most ${max} bytes`, {
          details: { max },
        }),
      );
    }
    const attachmentId = randomId();
    const final = join(ctx.attachmentsDir, attachmentId);
    const temp = join(ctx.attachmentsDir, 'tmp', `${attachmentId}.part`);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        // Node's parser stops at Content-Length; this guards the limit whatever the framing.
        if (size > max || size > declared)
          cb(new ServerError(ErrorCode.PayloadTooLarge, `attachments are at most ${max} bytes`));
        else cb(null, chunk);
      },
    });
    try {
      await pipeline(req.raw, counter, createWriteStream(temp, { flags: 'wx', flush: true }));
      if (size !== declared)
        throw new ServerError(ErrorCode.BadRequest, 'body is shorter than Content-Length');
      await rename(temp, final);
    } catch (err) {
      await unlink(temp).catch(() => {});
      if (err instanceof ServerError) return refuse(err);
      throw new ServerError(ErrorCode.BadRequest, 'upload was interrupted', { cause: err });
    }
    await ctx.store.createAttachment(attachmentId, size, a.deviceId, Date.now());
    return { attachmentId, size };
  });

  app.get('/v1/attachments/:attachmentId', async (req, reply) => {
    await auth(req);
    const { attachmentId } = parseUnknown(Params, req.params, 'path');
    const size = await ctx.store.attachmentSize(attachmentId);
    if (size === undefined) throw new ServerError(ErrorCode.NotFound, 'unknown attachment');
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-length', String(size));
    return reply.send(createReadStream(join(ctx.attachmentsDir, attachmentId)));
  });
}
