/**
 * `kolokol`: a command-line client on top of @kolokol/sdk. Each command opens the home folder's
 * store, connects, syncs (so pending welcomes and commits are processed before we act), does one
 * thing, waits for the server's durable ack and closes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ClientEvent, KolokolClient, SdkError, type StoredMessage } from '@kolokol/sdk';
import { SqliteStore } from '@kolokol/sdk/node';
import { CliError, oneLine } from './errors.ts';
import { dbPath, ensureHome, readCursor, resolveHome, writeCursor } from './home.ts';
import { PROXY_DEFAULTS, parseHostPort, startProxy } from './proxy.ts';

export interface Io {
  stdout(s: string): void;
  stderr(s: string): void;
  env: Record<string, string | undefined>;
}

export const USAGE = `Usage: kolokol [--home DIR] [--server URL] <command> [args]

Commands:
  register NAME [--display-name TEXT] [--invite CODE] [--device-name TEXT]   (needs --server)
  link CODE [--device-name TEXT]                  add this home as a new device (needs --server)
  link-code                                       print a code that links a new device
  whoami                                          account, device and server of this home
  send NAME TEXT | send --group ID TEXT           send a text message
  send-file NAME PATH | send-file --group ID PATH send a file
  group create TITLE NAME...                      create a group; prints its id on the last line
  group add ID NAME... | group remove ID NAME | group leave ID
  conversations [--json]                          list conversations
  messages ID [--json]                            the stored messages of a conversation
  listen [--json] [--count N] [--timeout SECONDS] print received messages (unprinted ones first)
  devices | devices revoke ID                     this account's devices
  sessions | sessions revoke ID                   this account's login sessions
  safety-number NAME                              the number to compare with NAME in person
  proxy --listen ADDR:PORT --upstream HOST:PORT [--proxy-protocol]
        [--max-connections N] [--idle-timeout SECONDS]
                                                  run a community proxy to a server's app port
                                                  (raw TCP, no keys; runs until interrupted)
  help

Options:
  --home DIR      account folder (default $KOLOKOL_HOME or ~/.kolokol)
  --server URL    server URL, for register and link (remembered afterwards)
Exit status: 0 ok, 1 failure, 2 usage error; failures print one line on stderr.`;

const options = {
  home: { type: 'string' },
  server: { type: 'string' },
  'display-name': { type: 'string' },
  'device-name': { type: 'string' },
  invite: { type: 'string' },
  group: { type: 'string' },
  json: { type: 'boolean' },
  count: { type: 'string' },
  timeout: { type: 'string' },
  listen: { type: 'string' },
  upstream: { type: 'string' },
  'proxy-protocol': { type: 'boolean' },
  'max-connections': { type: 'string' },
  'idle-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = {
  home?: string | undefined;
  server?: string | undefined;
  'display-name'?: string | undefined;
  'device-name'?: string | undefined;
  invite?: string | undefined;
  group?: string | undefined;
  json?: boolean | undefined;
  count?: string | undefined;
  timeout?: string | undefined;
  listen?: string | undefined;
  upstream?: string | undefined;
  'proxy-protocol'?: boolean | undefined;
  'max-connections'?: string | undefined;
  'idle-timeout'?: string | undefined;
  help?: boolean | undefined;
};

const usage = (message: string): CliError => new CliError('USAGE', `${message} (see kolokol help)`);

/** Which options each command accepts besides --home and --server. */
const allowed: Record<string, readonly (keyof Values)[]> = {
  register: ['display-name', 'invite', 'device-name'],
  link: ['device-name'],
  'link-code': [],
  whoami: ['json'],
  send: ['group'],
  'send-file': ['group'],
  group: [],
  conversations: ['json'],
  messages: ['json'],
  listen: ['json', 'count', 'timeout'],
  devices: ['json'],
  sessions: ['json'],
  'safety-number': [],
  proxy: ['listen', 'upstream', 'proxy-protocol', 'max-connections', 'idle-timeout'],
  help: [],
};

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw usage(`--${name} needs a positive whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function positiveSeconds(text: string | undefined, name = 'timeout'): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0))
    throw usage(`--${name} needs a positive number of seconds, got ${JSON.stringify(text)}`);
  return n;
}

function normalizeServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usage(`--server is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw usage(`--server must be http:// or https://, got ${url}`);
  return u.toString().replace(/\/$/, '');
}

/** Milliseconds allowed for connect + sync before we call the server unreachable. */
const connectTimeoutMs = (env: Record<string, string | undefined>): number => {
  const n = Number(env.KOLOKOL_CONNECT_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 20_000;
};

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => CliError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Turns SDK and other errors into a CliError with a message a person can act on. */
function explain(e: unknown, server: string | undefined): CliError {
  if (e instanceof CliError) return e;
  if (e instanceof SdkError) {
    switch (e.code) {
      case 'NOT_REGISTERED':
        return new CliError(
          'NOT_REGISTERED',
          'this home has no account: run `kolokol --server URL register NAME` first',
          { cause: e },
        );
      case 'ALREADY_REGISTERED':
        return new CliError('ALREADY_REGISTERED', `this home already has an account (${e.message})`, {
          cause: e,
        });
      case 'NETWORK':
      case 'UNAVAILABLE':
      case 'CLOSED':
        return new CliError(
          'SERVER_UNREACHABLE',
          `cannot reach the server${server ? ` at ${server}` : ''}: ${e.message}`,
          {
            cause: e,
          },
        );
      case 'NOT_FOUND':
      case 'NOT_FOUND_LOCAL':
        return new CliError('NOT_FOUND', e.message, { cause: e });
      case 'TIMEOUT':
        return new CliError('TIMEOUT', e.message, { cause: e });
      default:
        return new CliError('SERVER', `${e.code}: ${e.message}`, { cause: e });
    }
  }
  if (e instanceof TypeError && /fetch failed/i.test(e.message)) {
    return new CliError('SERVER_UNREACHABLE', `cannot reach the server${server ? ` at ${server}` : ''}`, {
      cause: e,
    });
  }
  return new CliError('IO', e instanceof Error ? e.message : String(e), { cause: e });
}

interface Ctx {
  io: Io;
  values: Values;
  args: string[];
  home: string;
}

const json = (v: unknown): string => `${JSON.stringify(v)}\n`;

/** The one JSON line `listen --json` prints per message (a stable, documented shape). */
export function messageLine(m: StoredMessage, kind: 'direct' | 'group' | undefined): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: m.id,
    conversation: m.conversationId,
    conversationKind: kind,
    seq: m.seq,
    from: m.from.username,
    fromUserId: m.from.userId,
    fromDevice: m.from.deviceId,
    sentAt: m.sentAt,
    receivedAt: m.receivedAt,
    kind: m.body.type,
  };
  if (m.body.type === 'text') base.text = m.body.text;
  else if (m.body.type === 'attachment') {
    const a = m.body.attachment;
    base.text = '';
    base.attachment = { name: a.name, mime: a.mime, size: a.size, id: a.attachmentId };
  }
  return base;
}

function describeBody(m: StoredMessage): string {
  switch (m.body.type) {
    case 'text':
      return m.body.text;
    case 'attachment':
      return `[file ${m.body.attachment.name}, ${m.body.attachment.size} bytes]`;
    default:
      return `[${m.body.type}]`;
  }
}

function humanLine(m: StoredMessage, title: string | undefined): string {
  const when = new Date(m.sentAt).toISOString();
  const where = title === undefined ? m.conversationId : title;
  return `${when} [${where}] ${m.from.username}: ${describeBody(m)}\n`;
}

/** What `listen` prints: messages people sent, not the SDK's local notices (system entries). */
const isUserMessage = (m: StoredMessage): boolean => m.body.type === 'text' || m.body.type === 'attachment';

async function openClient(ctx: Ctx): Promise<{ client: KolokolClient; store: SqliteStore }> {
  if (!existsSync(dbPath(ctx.home))) {
    throw new CliError(
      'NOT_REGISTERED',
      `no account in ${ctx.home}: run \`kolokol --server URL --home DIR register NAME\` first`,
    );
  }
  const store = new SqliteStore(dbPath(ctx.home));
  let client: KolokolClient;
  try {
    client = await KolokolClient.open({ store });
  } catch (e) {
    await store.close().catch(() => undefined);
    throw explain(e, undefined);
  }
  if (
    ctx.values.server !== undefined &&
    normalizeServer(ctx.values.server) !== normalizeServer(client.server)
  ) {
    await shutdown(client, store);
    throw usage(`this home belongs to ${client.server}, not ${ctx.values.server}`);
  }
  return { client, store };
}

/** Connect and catch up with the mailbox, or fail as unreachable after a while. */
async function online(client: KolokolClient, ctx: Ctx): Promise<void> {
  const ms = connectTimeoutMs(ctx.io.env);
  try {
    await withTimeout(
      (async () => {
        await client.connect();
        await client.sync();
      })(),
      ms,
      () =>
        new CliError(
          'SERVER_UNREACHABLE',
          `cannot reach the server at ${client.server} (no answer within ${ms / 1000} s)`,
        ),
    );
  } catch (e) {
    throw explain(e, client.server);
  }
}

/** Opens, connects, runs `fn`, closes: the shape of every command that talks to the server. */
async function withClient<T>(ctx: Ctx, fn: (client: KolokolClient) => Promise<T>): Promise<T> {
  const { client, store } = await openClient(ctx);
  try {
    await online(client, ctx);
    return await fn(client);
  } catch (e) {
    throw explain(e, client.server);
  } finally {
    await shutdown(client, store);
  }
}

/** The SDK leaves the store to its owner: close the client first (it flushes), then the store. */
async function shutdown(client: KolokolClient, store: SqliteStore): Promise<void> {
  await client.close().catch(() => undefined);
  await store.close().catch(() => undefined);
}

function need(args: string[], n: number, what: string): void {
  if (args.length < n) throw usage(`missing ${what}`);
}

function noMore(args: string[], n: number): void {
  if (args.length > n) throw usage(`unexpected argument ${JSON.stringify(args[n])}`);
}

/** `send NAME X` or `send --group ID X`: the conversation id and the remaining arguments. */
async function target(client: KolokolClient, ctx: Ctx): Promise<{ convId: string; rest: string[] }> {
  const group = ctx.values.group;
  if (group !== undefined) {
    const conv = (await client.conversations()).find((c) => c.id === group);
    if (conv === undefined) throw new CliError('NOT_FOUND', `no group ${group} on this device`);
    return { convId: conv.id, rest: ctx.args };
  }
  const [name, ...rest] = ctx.args;
  if (name === undefined) throw usage('missing NAME (or --group ID)');
  try {
    const conv = await client.openDirect(name);
    return { convId: conv.id, rest };
  } catch (e) {
    if (e instanceof SdkError && e.code === 'NOT_FOUND')
      throw new CliError('NOT_FOUND', `unknown user ${name}`, { cause: e });
    if (e instanceof SdkError && e.code === 'INVALID_ARGUMENT') throw usage(`${name}: ${e.message}`);
    throw e;
  }
}

async function cmdRegister(ctx: Ctx): Promise<void> {
  need(ctx.args, 1, 'NAME');
  noMore(ctx.args, 1);
  const name = ctx.args[0] ?? '';
  if (ctx.values.server === undefined) throw usage('register needs --server URL');
  const server = normalizeServer(ctx.values.server);
  ensureHome(ctx.home);
  const store = new SqliteStore(dbPath(ctx.home));
  let client: KolokolClient;
  try {
    client = await KolokolClient.register({
      server,
      username: name,
      store,
      ...(ctx.values['display-name'] === undefined ? {} : { displayName: ctx.values['display-name'] }),
      ...(ctx.values.invite === undefined ? {} : { inviteCode: ctx.values.invite }),
      ...(ctx.values['device-name'] === undefined ? {} : { deviceName: ctx.values['device-name'] }),
    });
  } catch (e) {
    await store.close().catch(() => undefined);
    throw explain(e, server);
  }
  try {
    ctx.io.stdout(
      `registered ${client.username} on ${client.server}\nuser ${client.userId}\ndevice ${client.deviceId}\n`,
    );
  } finally {
    await shutdown(client, store);
  }
}

async function cmdLink(ctx: Ctx): Promise<void> {
  need(ctx.args, 1, 'CODE');
  noMore(ctx.args, 1);
  if (ctx.values.server === undefined) throw usage('link needs --server URL');
  const server = normalizeServer(ctx.values.server);
  ensureHome(ctx.home);
  const store = new SqliteStore(dbPath(ctx.home));
  let client: KolokolClient;
  try {
    client = await KolokolClient.link({
      server,
      code: ctx.args[0] ?? '',
      store,
      ...(ctx.values['device-name'] === undefined ? {} : { deviceName: ctx.values['device-name'] }),
    });
  } catch (e) {
    await store.close().catch(() => undefined);
    throw explain(e, server);
  }
  try {
    await online(client, ctx);
    ctx.io.stdout(`linked ${client.username} on ${client.server}\ndevice ${client.deviceId}\n`);
  } finally {
    await shutdown(client, store);
  }
}

async function cmdWhoami(ctx: Ctx): Promise<void> {
  noMore(ctx.args, 0);
  const { client, store } = await openClient(ctx);
  try {
    const me = {
      username: client.username,
      userId: client.userId,
      deviceId: client.deviceId,
      server: client.server,
    };
    ctx.io.stdout(
      ctx.values.json
        ? json(me)
        : `${me.username} (${me.userId})\ndevice ${me.deviceId}\nserver ${me.server}\n`,
    );
  } finally {
    await shutdown(client, store);
  }
}

/**
 * Adds devices that members linked since the conversation last changed. The SDK adds a new
 * device of its own account when another device of that account next comes online; a CLI home
 * that ran `link-code` may never run again, so the sender also checks before each send (one
 * directory lookup per member; a commit only when a device is missing). Best effort: a failure
 * here must not stop the message.
 */
async function addNewDevices(client: KolokolClient, convId: string): Promise<void> {
  const conv = (await client.conversations()).find((c) => c.id === convId);
  if (conv === undefined) return;
  try {
    await client.addMembers(
      convId,
      conv.members.map((m) => m.username),
    );
  } catch {
    // e.g. a member's new device has no key package yet: its own account will add it later.
  }
}

async function cmdSend(ctx: Ctx): Promise<void> {
  await withClient(ctx, async (client) => {
    const { convId, rest } = await target(client, ctx);
    await addNewDevices(client, convId);
    need(rest, 1, 'TEXT');
    noMore(rest, 1);
    const text = rest[0] ?? '';
    if (text.length === 0) throw usage('TEXT is empty');
    const m = await client.sendText(convId, text);
    ctx.io.stdout(`${m.id}\n`);
  });
}

async function cmdSendFile(ctx: Ctx): Promise<void> {
  await withClient(ctx, async (client) => {
    const { convId, rest } = await target(client, ctx);
    await addNewDevices(client, convId);
    need(rest, 1, 'PATH');
    noMore(rest, 1);
    const path = rest[0] ?? '';
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (cause) {
      throw new CliError('IO', `cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    const m = await client.sendAttachment(convId, {
      name: basename(path),
      mime: 'application/octet-stream',
      bytes,
    });
    ctx.io.stdout(`${m.id}\n`);
  });
}

async function cmdGroup(ctx: Ctx): Promise<void> {
  const [sub, ...args] = ctx.args;
  switch (sub) {
    case 'create': {
      need(args, 1, 'TITLE');
      const [title, ...names] = args;
      await withClient(ctx, async (client) => {
        const conv = await client.createGroup(title ?? '', names);
        ctx.io.stdout(
          `created group "${conv.title}" with ${conv.members.map((m) => m.username).join(', ')}\n${conv.id}\n`,
        );
      });
      return;
    }
    case 'add': {
      need(args, 2, 'ID NAME...');
      const [id, ...names] = args;
      await withClient(ctx, async (client) => {
        await client.addMembers(id ?? '', names);
        ctx.io.stdout(`added ${names.join(', ')}\n`);
      });
      return;
    }
    case 'remove': {
      need(args, 2, 'ID NAME');
      noMore(args, 2);
      await withClient(ctx, async (client) => {
        await client.removeMember(args[0] ?? '', args[1] ?? '');
        ctx.io.stdout(`removed ${args[1]}\n`);
      });
      return;
    }
    case 'leave': {
      need(args, 1, 'ID');
      noMore(args, 1);
      await withClient(ctx, async (client) => {
        await client.leave(args[0] ?? '');
        ctx.io.stdout(`left ${args[0]}\n`);
      });
      return;
    }
    default:
      throw usage(
        sub === undefined
          ? 'group needs create, add, remove or leave'
          : `unknown group command ${JSON.stringify(sub)}`,
      );
  }
}

async function cmdConversations(ctx: Ctx): Promise<void> {
  noMore(ctx.args, 0);
  await withClient(ctx, async (client) => {
    for (const c of await client.conversations()) {
      const members = c.members.map((m) => m.username);
      ctx.io.stdout(
        ctx.values.json
          ? json({ id: c.id, kind: c.kind, title: c.title, members })
          : `${c.id}  ${c.kind.padEnd(6)}  ${c.kind === 'direct' ? `with ${c.peer?.username ?? '?'}` : c.title}  (${members.join(', ')})\n`,
      );
    }
  });
}

async function cmdMessages(ctx: Ctx): Promise<void> {
  need(ctx.args, 1, 'ID');
  noMore(ctx.args, 1);
  await withClient(ctx, async (client) => {
    const conv = (await client.conversations()).find((c) => c.id === ctx.args[0]);
    if (conv === undefined) throw new CliError('NOT_FOUND', `no conversation ${ctx.args[0]} on this device`);
    for (const m of await client.messages(conv.id)) {
      ctx.io.stdout(ctx.values.json ? json(messageLine(m, conv.kind)) : humanLine(m, conv.title));
    }
  });
}

async function cmdListen(ctx: Ctx): Promise<void> {
  noMore(ctx.args, 0);
  const count = positiveInt('count', ctx.values.count);
  const timeoutS = positiveSeconds(ctx.values.timeout);
  const startedAt = Date.now();
  const { client, store } = await openClient(ctx);
  const cursor = await readCursor(store);
  // Cursor writes are chained so they land in order without making print() async.
  let saving: Promise<void> = Promise.resolve();
  const printed = new Set<string>();
  const convs = new Map<string, { kind: 'direct' | 'group'; title: string }>();
  let n = 0;
  let done: (() => void) | undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });

  const refreshConvs = async () => {
    for (const c of await client.conversations()) convs.set(c.id, { kind: c.kind, title: c.title });
  };
  // Messages sent by this very device are not "received"; everything else is, including our other devices'.
  const mine = (m: StoredMessage) => m.from.deviceId === client.deviceId;
  const print = (m: StoredMessage) => {
    if (printed.has(m.id) || mine(m) || !isUserMessage(m) || (count !== undefined && n >= count)) return;
    printed.add(m.id);
    n++;
    const conv = convs.get(m.conversationId);
    ctx.io.stdout(ctx.values.json ? json(messageLine(m, conv?.kind)) : humanLine(m, conv?.title));
    cursor[m.conversationId] = Math.max(cursor[m.conversationId] ?? -1, m.seq);
    const snapshot = { ...cursor };
    saving = saving.then(() => writeCursor(store, snapshot)).catch(() => undefined);
    if (count !== undefined && n >= count) done?.();
  };

  // Live messages that arrive while we replay the backlog wait here, so nothing prints out of order.
  let replaying = true;
  const pending: StoredMessage[] = [];
  const onMessage = (m: StoredMessage) => {
    if (replaying) pending.push(m);
    else {
      if (!convs.has(m.conversationId)) {
        void refreshConvs().then(
          () => print(m),
          () => print(m),
        );
        return;
      }
      print(m);
    }
  };
  client.on(ClientEvent.Message, onMessage);

  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  if (timeoutS !== undefined) {
    const left = Math.max(0, timeoutS * 1000 - (Date.now() - startedAt));
    timer = setTimeout(() => {
      timedOut = true;
      done?.();
    }, left);
  }
  const stop = () => done?.();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  try {
    await Promise.race([online(client, ctx), finished]);
    if (!timedOut) {
      await refreshConvs();
      const backlog: StoredMessage[] = [];
      for (const id of convs.keys()) {
        const since = cursor[id] ?? -1;
        for (const m of await client.messages(id)) if (m.seq > since) backlog.push(m);
      }
      backlog.sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq);
      for (const m of backlog) print(m);
      replaying = false;
      for (const m of pending.splice(0)) print(m);
      if (count === undefined || n < count) await finished;
    }
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    client.off(ClientEvent.Message, onMessage);
    await saving;
    await shutdown(client, store);
  }
  if (timedOut && count !== undefined && n < count) {
    throw new CliError('TIMEOUT', `timed out after ${timeoutS} s: received ${n} of ${count} messages`);
  }
}

async function cmdLinkCode(ctx: Ctx): Promise<void> {
  noMore(ctx.args, 0);
  await withClient(ctx, async (client) => {
    ctx.io.stdout(`${await client.createLinkCode()}\n`);
  });
}

async function cmdDevices(ctx: Ctx): Promise<void> {
  const [sub, id] = ctx.args;
  if (sub === 'revoke') {
    need(ctx.args, 2, 'ID');
    noMore(ctx.args, 2);
    await withClient(ctx, async (client) => {
      await client.revokeDevice(id ?? '');
      ctx.io.stdout(`revoked device ${id}\n`);
    });
    return;
  }
  if (sub !== undefined) throw usage(`unknown devices command ${JSON.stringify(sub)}`);
  await withClient(ctx, async (client) => {
    for (const d of await client.devices()) {
      const row = { ...d, current: d.deviceId === client.deviceId };
      ctx.io.stdout(
        ctx.values.json
          ? json(row)
          : `${d.deviceId}  ${d.name ?? '-'}  added ${new Date(d.createdAt).toISOString()}${row.current ? '  (this device)' : ''}\n`,
      );
    }
  });
}

async function cmdSessions(ctx: Ctx): Promise<void> {
  const [sub, id] = ctx.args;
  if (sub === 'revoke') {
    need(ctx.args, 2, 'ID');
    noMore(ctx.args, 2);
    await withClient(ctx, async (client) => {
      await client.revokeSession(id ?? '');
      ctx.io.stdout(`revoked session ${id}\n`);
    });
    return;
  }
  if (sub !== undefined) throw usage(`unknown sessions command ${JSON.stringify(sub)}`);
  await withClient(ctx, async (client) => {
    for (const s of await client.sessions()) {
      ctx.io.stdout(
        ctx.values.json
          ? json(s)
          : `${s.sessionId}  device ${s.deviceId}  last seen ${new Date(s.lastSeenAt).toISOString()}${s.current ? '  (this one)' : ''}\n`,
      );
    }
  });
}

async function cmdSafetyNumber(ctx: Ctx): Promise<void> {
  need(ctx.args, 1, 'NAME');
  noMore(ctx.args, 1);
  await withClient(ctx, async (client) => {
    const sn = await client.safetyNumber(ctx.args[0] ?? '');
    ctx.io.stdout(`${typeof sn === 'string' ? sn : sn.digits}\n`);
  });
}

/** Runs the community proxy (proxy.ts) until SIGINT or SIGTERM; logs counters on stderr. */
async function cmdProxy(ctx: Ctx): Promise<void> {
  noMore(ctx.args, 0);
  if (ctx.values.listen === undefined) throw usage('proxy needs --listen ADDR:PORT');
  if (ctx.values.upstream === undefined) throw usage('proxy needs --upstream HOST:PORT');
  const idle = positiveSeconds(ctx.values['idle-timeout'], 'idle-timeout');
  const proxy = await startProxy({
    listen: parseHostPort(ctx.values.listen, '--listen'),
    upstream: parseHostPort(ctx.values.upstream, '--upstream'),
    proxyProtocol: ctx.values['proxy-protocol'] === true,
    maxConnections:
      positiveInt('max-connections', ctx.values['max-connections']) ?? PROXY_DEFAULTS.maxConnections,
    idleTimeoutMs: idle === undefined ? PROXY_DEFAULTS.idleTimeoutMs : idle * 1000,
    connectTimeoutMs: PROXY_DEFAULTS.connectTimeoutMs,
    statsIntervalMs: PROXY_DEFAULTS.statsIntervalMs,
    log: (line) => ctx.io.stderr(`${line}\n`),
  });
  const { host, port } = proxy.address;
  const shown = host.includes(':') ? `[${host}]` : host;
  ctx.io.stdout(`proxy listening on ${shown}:${port}, forwarding to ${ctx.values.upstream}\n`);
  if (host !== '0.0.0.0' && host !== '::')
    ctx.io.stdout(`share: kolokol://proxy?host=${encodeURIComponent(host)}&port=${port}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
}

const commands: Record<string, (ctx: Ctx) => Promise<void>> = {
  proxy: cmdProxy,
  register: cmdRegister,
  link: cmdLink,
  'link-code': cmdLinkCode,
  whoami: cmdWhoami,
  send: cmdSend,
  'send-file': cmdSendFile,
  group: cmdGroup,
  conversations: cmdConversations,
  messages: cmdMessages,
  listen: cmdListen,
  devices: cmdDevices,
  sessions: cmdSessions,
  'safety-number': cmdSafetyNumber,
};

/** Runs one command line; returns the exit status. Never throws. */
export async function main(argv: string[], io: Io): Promise<number> {
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: linkCodeAsPositional(argv), options, allowPositionals: true, strict: true });
    } catch (e) {
      throw usage(e instanceof Error ? e.message : String(e));
    }
    const { values, positionals } = parsed;
    const [command, ...args] = positionals;
    if (command === 'help' || values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (command === undefined) throw usage('missing command');
    const run = commands[command];
    if (run === undefined) throw usage(`unknown command ${JSON.stringify(command)}`);
    const ok = new Set<keyof Values>(['home', 'server', 'help', ...(allowed[command] ?? [])]);
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && !ok.has(k as keyof Values)) throw usage(`${command} does not take --${k}`);
    }
    await run({ io, values, args, home: resolveHome(values.home, io.env) });
    return 0;
  } catch (e) {
    const err = explain(e, undefined);
    io.stderr(`kolokol: ${oneLine(err.message)}\n`);
    if (io.env.KOLOKOL_DEBUG) io.stderr(`${e instanceof Error ? (e.stack ?? '') : ''}\n`);
    return err.exitCode;
  }
}

/**
 * Link codes are base64url, so one in 64 starts with '-', which parseArgs would read as options:
 * when the last argument of `link` looks like that and is none of our options, it is the code.
 */
export function linkCodeAsPositional(argv: string[]): string[] {
  const last = argv.at(-1);
  if (last === undefined || !argv.slice(0, -1).includes('link') || !last.startsWith('-')) return argv;
  const known = Object.entries(options).some(
    ([name, o]) =>
      last === `--${name}` || last.startsWith(`--${name}=`) || ('short' in o && last === `-${o.short}`),
  );
  return known ? argv : [...argv.slice(0, -1), '--', last];
}
