/**
 * Reports, message franking, suspension notices and appeals (issue 6, "server-side protection
 * that needs no plaintext").
 *
 * Message franking (Facebook's scheme; Grubbs, Lu, Ristenpart 2017; Dodis et al. 2018): the
 * sender puts a fresh 32-byte franking key `nf` inside the encrypted envelope and sends
 * `cf = HMAC-SHA256(nf, envelope bytes)` beside the ciphertext. The server, which cannot read the
 * envelope, MACs `cf` with who sent it, in which group, under which msgId and when
 * (`frankingTagTbs` in signing.ts) and delivers `{cf, tag}` with the mailbox item. A recipient
 * checks `cf` against the `nf` and bytes it decrypted; a report hands the server the bytes, `nf`,
 * `cf` and `tag`, and the server accepts it only if both MACs verify: the reported account really
 * sent exactly these bytes, and nobody can frame it with bytes it did not send.
 */
import { z } from 'zod';
import { b64, b64Exact } from './bytes.ts';
import { GroupId, MessageId, Millis, UserId } from './ids.ts';

export const FRANKING_BYTES = 32;
/** `nf`, `cf` and the server's tag: 32 bytes each (HMAC-SHA256). */
export const FrankingBytes = b64Exact(FRANKING_BYTES);

/** What the server delivers beside a franked application message (sender and time are the item's). */
export const Franking = z.object({ cf: FrankingBytes, tag: FrankingBytes });
export type Franking = z.infer<typeof Franking>;

export const ReportCategory = z.enum(['scam', 'spam', 'harassment', 'impersonation', 'illegal', 'other']);
export type ReportCategory = z.infer<typeof ReportCategory>;

/** Limits of one report. A text envelope is at most 64 KiB of text plus its JSON. */
export const ReportLimits = {
  maxMessages: 20,
  maxPlaintextBytes: 70 * 1024,
  maxCommentLength: 1000,
  maxAppealLength: 2000,
  maxReasonLength: 500,
} as const;

export const ReportedMessage = z.object({
  msgId: MessageId,
  groupId: GroupId,
  /** The sender's userId as the mailbox item named it (the tag binds it). */
  sender: UserId,
  /** The item's `sentAt`: when the server accepted it (the tag binds it). */
  at: Millis,
  /** The decrypted envelope bytes, exactly as received. */
  plaintext: b64(1, ReportLimits.maxPlaintextBytes),
  nf: FrankingBytes,
  cf: FrankingBytes,
  tag: FrankingBytes,
});
export type ReportedMessage = z.infer<typeof ReportedMessage>;

// POST /v1/reports (auth)
export const ReportRequest = z.object({
  category: ReportCategory,
  comment: z.string().trim().max(ReportLimits.maxCommentLength).optional(),
  messages: z.array(ReportedMessage).min(1).max(ReportLimits.maxMessages),
});
export type ReportRequest = z.input<typeof ReportRequest>;
export const ReportResponse = z.object({ reportId: z.string(), reportedUserId: UserId });
export type ReportResponse = z.infer<typeof ReportResponse>;

// POST /v1/appeals (auth; the one route a suspended account's session still opens)
export const AppealRequest = z.object({ text: z.string().trim().min(1).max(ReportLimits.maxAppealLength) });
export type AppealRequest = z.input<typeof AppealRequest>;
export const AppealResponse = z.object({ appealId: z.string() });
export type AppealResponse = z.infer<typeof AppealResponse>;

/** What an operator told an account: a warning, its suspension, or the end of it. */
export const NoticeKind = z.enum(['warning', 'suspended', 'lifted']);
export type NoticeKind = z.infer<typeof NoticeKind>;
export const Notice = z.object({
  id: z.number().int().nonnegative(),
  kind: NoticeKind,
  reason: z.string().max(ReportLimits.maxReasonLength).optional(),
  at: Millis,
});
export type Notice = z.infer<typeof Notice>;

// GET /v1/notices?after=ID (auth; works while suspended): the account's notices after that id.
export const NoticesResponse = z.object({ notices: z.array(Notice).max(100) });
export type NoticesResponse = z.infer<typeof NoticesResponse>;

/** Accounts one account may block (the server's table bound). */
export const MAX_BLOCKED = 10_000;

// GET /v1/blocks ; PUT /v1/blocks/:userId ; DELETE /v1/blocks/:userId (auth): the account's
// blocked accounts after the change. The server leaves the blocker's devices out of every
// application message (texts, calls) and welcome the blocked account sends; the blocked account
// is not told.
export const BlocksResponse = z.object({ blocked: z.array(UserId).max(MAX_BLOCKED) });
export type BlocksResponse = z.infer<typeof BlocksResponse>;
