/**
 * Moderation routes (issue 6): reports with franked messages, appeals of a suspension, the
 * account's notices (warnings, suspension and its lifting), and its blocks.
 */
import {
  AppealRequest,
  type AppealResponse,
  type BlocksResponse,
  ErrorCode,
  MAX_BLOCKED,
  type NoticesResponse,
  parseUnknown,
  ReportLimits,
  ReportRequest,
  type ReportResponse,
  UserId,
} from '@kolokol/protocol';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { authenticateHeader } from '../auth.ts';
import type { Context } from '../context.ts';
import { randomId } from '../crypto.ts';
import { ServerError } from '../errors.ts';
import { noticeOf } from '../moderation/service.ts';

/** Up to 20 messages of up to 70 KiB of plaintext each, in base64url, with room for JSON. */
const REPORT_BODY_LIMIT =
  Math.ceil((ReportLimits.maxMessages * ReportLimits.maxPlaintextBytes * 4) / 3) + 64 * 1024;
/** Open appeals one account may have at once: enough to add a word, too few to flood the queue. */
const MAX_OPEN_APPEALS = 3;

export function registerModerationRoutes(app: FastifyInstance, ctx: Context): void {
  const { moderation } = ctx;

  app.post('/v1/reports', { bodyLimit: REPORT_BODY_LIMIT }, async (req): Promise<ReportResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization);
    const body = parseUnknown(ReportRequest, req.body, 'report');
    return moderation.fileReport(a.userId, body, Date.now());
  });

  // A suspended account's session opens this route (and GET /v1/notices) and no other: that is
  // how the server knows who appeals without letting the account do anything else.
  app.post('/v1/appeals', async (req): Promise<AppealResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization, { allowSuspended: true });
    const { text } = parseUnknown(AppealRequest, req.body, 'appeal');
    if ((await moderation.store.openAppeals(a.userId)).length >= MAX_OPEN_APPEALS) {
      throw new ServerError(
        ErrorCode.RateLimited,
        `at most ${MAX_OPEN_APPEALS} open appeals per account; the operator has not answered yet`,
      );
    }
    const appealId = randomId();
    await moderation.store.createAppeal(appealId, a.userId, text, Date.now());
    return { appealId };
  });

  app.get('/v1/notices', async (req): Promise<NoticesResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization, { allowSuspended: true });
    const { after } = parseUnknown(
      z.object({ after: z.coerce.number().int().nonnegative().default(0) }),
      req.query,
      'query',
    );
    return { notices: (await moderation.store.notices(a.userId, after)).map(noticeOf) };
  });

  // Blocks: the send path (storage/store.ts) leaves the blocker's devices out of what the blocked
  // account sends; nothing tells the blocked account.
  app.get('/v1/blocks', async (req): Promise<BlocksResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization);
    return { blocked: await moderation.store.blocked(a.userId) };
  });

  app.put('/v1/blocks/:userId', async (req): Promise<BlocksResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization);
    const { userId } = parseUnknown(z.object({ userId: UserId }), req.params, 'path');
    if (userId === a.userId) throw new ServerError(ErrorCode.BadRequest, 'an account cannot block itself');
    if ((await ctx.store.accountById(userId)) === undefined)
      throw new ServerError(ErrorCode.NotFound, 'no such user');
    if (!(await moderation.store.block(a.userId, userId, Date.now())))
      throw new ServerError(ErrorCode.BadRequest, `an account may block at most ${MAX_BLOCKED} accounts`);
    return { blocked: await moderation.store.blocked(a.userId) };
  });

  app.delete('/v1/blocks/:userId', async (req): Promise<BlocksResponse> => {
    const a = await authenticateHeader(ctx, req.headers.authorization);
    const { userId } = parseUnknown(z.object({ userId: UserId }), req.params, 'path');
    await moderation.store.unblock(a.userId, userId);
    return { blocked: await moderation.store.blocked(a.userId) };
  });
}
