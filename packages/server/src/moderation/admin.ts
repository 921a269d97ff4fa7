/**
 * The operator's moderation commands (`kolokol-server reports|appeals|suspension|limits …`). Like
 * `invite` (admin.ts) they work on the database directly, so they run beside a live server; the
 * server picks up the notices they write within `noticePollMs` and tells the account's devices.
 */
import { mkdirSync } from 'node:fs';
import { ReportLimits } from '@kolokol/protocol';
import { resolveConfig, storeOptions } from '../app.ts';
import type { ServerConfig } from '../config.ts';
import { ServerError } from '../errors.ts';
import { type Account, Store } from '../storage/store.ts';
import { type Appeal, ModerationStore, type Report, StoredReportMessages } from './store.ts';

export const MODERATION_COMMANDS: ReadonlySet<string> = new Set([
  'reports',
  'appeals',
  'suspension',
  'limits',
]);

export interface ModerationArgs {
  /** The command and its words: `reports resolve ID`. */
  words: string[];
  action: 'warn' | 'suspend' | 'dismiss' | undefined;
  reason: string | undefined;
  all: boolean;
  /** What is left for loadConfig (storage settings). */
  rest: string[];
}

const usage = (why: string) => new ServerError('CONFIG', `${why} (see kolokol-server --help)`);

/** Takes the command's own words and flags out of argv; the rest are server settings. */
export function splitModerationArgs(argv: readonly string[]): ModerationArgs {
  const out: ModerationArgs = { words: [], action: undefined, reason: undefined, all: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--warn' || a === '--suspend' || a === '--dismiss') {
      const action = a.slice(2) as 'warn' | 'suspend' | 'dismiss';
      if (out.action !== undefined && out.action !== action)
        throw usage('give one of --warn, --suspend, --dismiss');
      out.action = action;
    } else if (a === '--reason' || a.startsWith('--reason=')) {
      const v = a === '--reason' ? argv[++i] : a.slice('--reason='.length);
      if (v === undefined || v.trim() === '') throw usage('--reason needs a text');
      if (v.length > ReportLimits.maxReasonLength)
        throw usage(`--reason is longer than ${ReportLimits.maxReasonLength} characters`);
      out.reason = v.trim();
    } else if (a === '--all') out.all = true;
    else if (a.startsWith('--')) {
      // (Ids may start with a single '-': base64url.) A server setting and, unless it is `--flag=value`, its value.
      out.rest.push(a);
      const v = argv[i + 1];
      if (!a.includes('=') && v !== undefined && !v.startsWith('--')) out.rest.push(argv[++i] ?? '');
    } else out.words.push(a);
  }
  return out;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function userOf(store: Store, name: string | undefined): Promise<Account> {
  if (name === undefined) throw usage('name the user (username or user id)');
  const a =
    (await store.accountByUsername(name.trim().toLowerCase()).catch(() => undefined)) ??
    (await store.accountById(name));
  if (a === undefined) throw usage(`no user ${JSON.stringify(name)}`);
  return a;
}

/** Runs one moderation command and returns what it prints. */
export async function runModerationCommand(
  config: ServerConfig,
  args: ModerationArgs,
  now = Date.now(),
): Promise<string> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = await Store.open(storeOptions(resolveConfig(config)));
  const mod = new ModerationStore(store.db);
  const nameOf = async (userId: string) => (await store.accountById(userId))?.username ?? '(deleted)';
  const who = async (userId: string) => `${await nameOf(userId)} (${userId})`;
  const reportLine = async (r: Report) =>
    `${r.reportId}  ${iso(r.createdAt)}  ${r.category.padEnd(13)} ${r.status.padEnd(9)} reported ${await who(r.reportedUserId)} by ${await nameOf(r.reporterUserId)}, ${StoredReportMessages.safeParse(JSON.parse(r.messagesJson)).data?.length ?? '?'} message(s)`;
  const appealLine = async (a: Appeal) =>
    `${a.appealId}  ${iso(a.createdAt)}  ${await who(a.userId)}: ${JSON.stringify(a.text)}`;
  try {
    const [command, sub, arg] = args.words;
    if (command === 'reports' && (sub === 'list' || sub === undefined)) {
      const reports = await mod.reports(args.all ? {} : { status: 'open' });
      const appeals = await mod.openAppeals();
      const lines = [`${args.all ? 'all' : 'open'} reports: ${reports.length}`];
      for (const r of reports) lines.push(await reportLine(r));
      lines.push(
        `open appeals: ${appeals.length}${appeals.length > 0 ? ' (kolokol-server appeals list)' : ''}`,
      );
      return lines.join('\n');
    }
    if (command === 'reports' && sub === 'show') {
      const r = arg === undefined ? undefined : await mod.report(arg);
      if (r === undefined) throw usage(`no report ${JSON.stringify(arg)}`);
      const lines = [
        await reportLine(r),
        `reporter: ${await who(r.reporterUserId)}`,
        `comment: ${r.comment === undefined ? '(none)' : JSON.stringify(r.comment)}`,
      ];
      if (r.resolvedAt !== undefined)
        lines.push(
          `resolved ${iso(r.resolvedAt)}: ${r.status}${r.resolutionReason === undefined ? '' : ` (${r.resolutionReason})`}`,
        );
      const suspension = await mod.suspension(r.reportedUserId);
      if (suspension !== undefined) lines.push(`the account is suspended since ${iso(suspension.at)}`);
      const others = (await mod.reports({ reportedUserId: r.reportedUserId })).length - 1;
      lines.push(`other reports about this account: ${others}`);
      const messages = StoredReportMessages.safeParse(JSON.parse(r.messagesJson));
      for (const [i, m] of (messages.data ?? []).entries()) {
        const text = Buffer.from(m.plaintext, 'base64url').toString('utf8');
        lines.push(
          `message ${i + 1}: ${m.msgId} in ${m.groupId} at ${iso(m.at)} (franking verified)`,
          `  ${text}`,
        );
      }
      return lines.join('\n');
    }
    if (command === 'reports' && sub === 'resolve') {
      const r = arg === undefined ? undefined : await mod.report(arg);
      if (r === undefined) throw usage(`no report ${JSON.stringify(arg)}`);
      if (args.action === undefined) throw usage('resolve needs --warn, --suspend or --dismiss');
      if (args.action === 'warn') {
        await mod.addNotice(r.reportedUserId, 'warning', args.reason, now);
        await mod.resolveReport(r.reportId, 'warned', args.reason, now);
        return `report ${r.reportId}: ${await who(r.reportedUserId)} warned`;
      }
      if (args.action === 'suspend') {
        await mod.suspend(r.reportedUserId, args.reason, now);
        await mod.addNotice(r.reportedUserId, 'suspended', args.reason, now);
        await mod.resolveReport(r.reportId, 'suspended', args.reason, now);
        return `report ${r.reportId}: ${await who(r.reportedUserId)} suspended (lift with: kolokol-server suspension lift ${r.reportedUserId})`;
      }
      await mod.resolveReport(r.reportId, 'dismissed', args.reason, now);
      return `report ${r.reportId}: dismissed`;
    }
    if (command === 'appeals' && (sub === 'list' || sub === undefined)) {
      const appeals = await mod.openAppeals();
      const lines = [`open appeals: ${appeals.length}`];
      for (const a of appeals) {
        const s = await mod.suspension(a.userId);
        lines.push(
          `${await appealLine(a)}${s === undefined ? ' (not suspended now)' : ` (suspended ${iso(s.at)}${s.reason === undefined ? '' : `: ${s.reason}`})`}`,
        );
      }
      return lines.join('\n');
    }
    if (command === 'suspension' && sub === 'lift') {
      const a = await userOf(store, arg);
      if ((await mod.suspension(a.userId)) === undefined)
        return `${a.username} (${a.userId}) is not suspended`;
      await mod.liftSuspension(a.userId);
      await mod.resolveAppeals(a.userId, now);
      await mod.addNotice(a.userId, 'lifted', args.reason, now);
      return `${a.username} (${a.userId}): suspension lifted`;
    }
    if (command === 'limits' && sub === 'lift') {
      const a = await userOf(store, arg);
      await mod.liftLimits(a.userId, now);
      return `${a.username} (${a.userId}): new-account limits lifted`;
    }
    throw usage(`unknown command ${JSON.stringify(args.words.join(' '))}`);
  } finally {
    await store.close();
  }
}
