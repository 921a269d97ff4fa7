import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AttachmentId,
  type AttachmentResponse,
  CreateUploadRequest,
  ErrorCode,
  parseUnknown,
  UploadId,
  UploadOffsetQuery,
  type UploadProgress,
  type UploadResponse,
} from '@kolokol/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Auth } from '../auth.ts';
import type { Context } from '../context.ts';
import { randomId } from '../crypto.ts';
import { ServerError } from '../errors.ts';

const Params = z.object({ attachmentId: AttachmentId });
const UploadParams = z.object({ uploadId: UploadId });
/** Kept in step with UPLOAD_TTL_MS in app.ts (the sweeper deletes older uploads). */
const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Fails the upload when its body sends nothing for `ms`: a slow but live client keeps going (a
 * total timeout would cut off large uploads on slow links), one that trickles nothing is cut off.
 */
function idle(ms: number): Transform {
  let timer: NodeJS.Timeout | undefined;
  const t: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      timer?.refresh();
      cb(null, chunk);
    },
    flush(cb) {
      clearTimeout(timer);
      cb();
    },
    destroy(err, cb) {
      clearTimeout(timer);
      cb(err);
    },
  });
  timer = setTimeout(
    () => t.destroy(new ServerError(ErrorCode.BadRequest, `upload stalled: nothing for ${ms} ms`)),
    ms,
  );
  return t;
}

/**
 * One operation at a time per upload, so two chunks racing for the same offset cannot both be
 * written. In-process only: a cluster would route an upload to one node or lock its row.
 */
class UploadLocks {
  readonly #tails = new Map<string, Promise<unknown>>();
  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.#tails.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#tails.get(key) === run) this.#tails.delete(key);
    }
  }
}

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
  const quota = ctx.config.attachmentQuotaBytes;
  const idleMs = ctx.config.tuning.uploadIdleMs;
  /** Refuses `size` more bytes for a device over its quota (live attachments and unfinished uploads). */
  const checkQuota = async (deviceId: string, size: number) => {
    const used = await ctx.store.attachmentBytes(deviceId);
    if (used + size > quota) {
      throw new ServerError(
        ErrorCode.PayloadTooLarge,
        `attachment quota: this device keeps ${used} of ${quota} bytes on the server`,
        { details: { quota, used } },
      );
    }
  };
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
    await checkQuota(a.deviceId, declared).catch(refuse);
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
      await pipeline(req.raw, idle(idleMs), counter, createWriteStream(temp, { flags: 'wx', flush: true }));
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

  // ---- chunked uploads: real progress and cancel for clients whose fetch cannot report it ----

  const locks = new UploadLocks();
  const chunkSize = Math.min(ctx.config.tuning.uploadChunkBytes, max);
  const uploadPath = (uploadId: string) => join(ctx.attachmentsDir, 'uploads', uploadId);
  const ownUpload = async (uploadId: string, deviceId: string) => {
    const u = await ctx.store.upload(uploadId);
    // Another device's upload is as unknown as a missing one.
    if (u === undefined || u.deviceId !== deviceId)
      throw new ServerError(ErrorCode.NotFound, 'unknown upload');
    return u;
  };

  app.post('/v1/attachments/uploads', async (req): Promise<UploadResponse> => {
    const a = await auth(req);
    const { size } = parseUnknown(CreateUploadRequest, req.body, 'upload');
    if (size > max) {
      throw new ServerError(ErrorCode.PayloadTooLarge, `attachments are at most ${max} bytes`, {
        details: { max },
      });
    }
    await checkQuota(a.deviceId, size);
    const uploadId = randomId();
    const attachmentId = randomId();
    const now = Date.now();
    await writeFile(uploadPath(uploadId), new Uint8Array(0), { flag: 'wx' });
    await ctx.store.createUpload({ uploadId, attachmentId, deviceId: a.deviceId, size, now });
    return { uploadId, attachmentId, chunkSize, expiresAt: now + UPLOAD_TTL_MS };
  });

  app.put('/v1/attachments/uploads/:uploadId', async (req, reply): Promise<UploadProgress> => {
    const refuse = (err: unknown): never => {
      reply.header('connection', 'close');
      throw err;
    };
    let a: Auth;
    try {
      a = await auth(req);
    } catch (err) {
      return refuse(err);
    }
    const { uploadId } = parseUnknown(UploadParams, req.params, 'path');
    const { offset } = parseUnknown(UploadOffsetQuery, req.query, 'query');
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader) || Number(lengthHeader) === 0) {
      return refuse(
        new ServerError(ErrorCode.BadRequest, 'a non-empty chunk with Content-Length is required'),
      );
    }
    const declared = Number(lengthHeader);
    if (declared > chunkSize) {
      return refuse(
        new ServerError(ErrorCode.PayloadTooLarge, `chunks are at most ${chunkSize} bytes`, {
          details: { chunkSize },
        }),
      );
    }
    return locks.with(uploadId, async () => {
      const u = await ownUpload(uploadId, a.deviceId).catch(refuse);
      if (offset !== u.received) {
        return refuse(
          new ServerError(ErrorCode.BadRequest, `offset must be ${u.received}`, {
            details: { received: u.received },
          }),
        );
      }
      if (offset + declared > u.size) {
        return refuse(
          new ServerError(ErrorCode.PayloadTooLarge, `the upload was announced as ${u.size} bytes`, {
            details: { size: u.size },
          }),
        );
      }
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > declared)
            cb(new ServerError(ErrorCode.PayloadTooLarge, 'chunk longer than Content-Length'));
          else cb(null, chunk);
        },
      });
      try {
        // Written in place at `offset`: bytes of an earlier interrupted attempt are overwritten,
        // and anything past `received` is cut off at completion.
        await pipeline(
          req.raw,
          idle(idleMs),
          counter,
          createWriteStream(uploadPath(uploadId), { flags: 'r+', start: offset, flush: true }),
        );
        if (size !== declared)
          throw new ServerError(ErrorCode.BadRequest, 'body is shorter than Content-Length');
      } catch (err) {
        if (err instanceof ServerError) return refuse(err);
        throw new ServerError(ErrorCode.BadRequest, 'upload was interrupted', { cause: err });
      }
      const received = offset + size;
      await ctx.store.setUploadReceived(uploadId, received);
      return { received };
    });
  });

  app.post('/v1/attachments/uploads/:uploadId/complete', async (req): Promise<AttachmentResponse> => {
    const a = await auth(req);
    const { uploadId } = parseUnknown(UploadParams, req.params, 'path');
    return locks.with(uploadId, async () => {
      const u = await ownUpload(uploadId, a.deviceId);
      if (u.received !== u.size) {
        throw new ServerError(ErrorCode.BadRequest, `received ${u.received} of ${u.size} bytes`, {
          details: { received: u.received },
        });
      }
      await truncate(uploadPath(uploadId), u.size);
      await rename(uploadPath(uploadId), join(ctx.attachmentsDir, u.attachmentId));
      await ctx.store.completeUpload(u, Date.now());
      return { attachmentId: u.attachmentId, size: u.size };
    });
  });

  app.delete('/v1/attachments/uploads/:uploadId', async (req) => {
    const a = await auth(req);
    const { uploadId } = parseUnknown(UploadParams, req.params, 'path');
    await locks.with(uploadId, async () => {
      await ownUpload(uploadId, a.deviceId);
      await ctx.store.deleteUpload(uploadId);
      await rm(uploadPath(uploadId), { force: true });
    });
    return {};
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
