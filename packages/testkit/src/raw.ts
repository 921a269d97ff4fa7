/**
 * A protocol-level client with no SDK and no MLS: it registers accounts, logs in and speaks the
 * WebSocket frames of @kolokol/protocol directly. The authorization and bad-input tests use it to
 * send what a well-behaved SDK never would, and the benchmark uses it to drive the server without
 * client-side crypto cost. Message bodies it sends are opaque random bytes: the server never reads them.
 */
import {
  certifyDevice,
  type DeviceKeys,
  generateIdentity,
  type IdentityKeyPair,
  signLogin,
} from '@kolokol/crypto';
import {
  AccountResponse,
  ChallengeResponse,
  type ClientFrame,
  ErrorBody,
  fromB64,
  LoginResponse,
  type MailboxItem,
  type OutgoingMessage,
  PROTOCOL_VERSION,
  parseUnknown,
  ServerFrame,
  toB64,
} from '@kolokol/protocol';
import { TestkitError } from './errors.ts';
import { waitFor } from './wait.ts';

export interface HttpResult {
  status: number;
  body: unknown;
}

/** The wire error code of an error body, or undefined if the body is not an ErrorBody. */
export function errorCodeOf(body: unknown): string | undefined {
  const parsed = ErrorBody.safeParse(body);
  return parsed.success ? parsed.data.error.code : undefined;
}

/** One HTTP call; the body is parsed as JSON when it is JSON and returned raw otherwise. */
export async function http(
  server: string,
  method: string,
  path: string,
  opts?: { json?: unknown; token?: string; raw?: string | Uint8Array; contentType?: string },
): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  let body: string | Uint8Array | undefined;
  if (opts?.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts?.raw !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/octet-stream';
    body = opts.raw;
  }
  if (opts?.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(new URL(path, server), {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** Like `http` but throws unless the status is 2xx. */
export async function httpOk(
  server: string,
  method: string,
  path: string,
  opts?: { json?: unknown; token?: string; raw?: string | Uint8Array; contentType?: string },
): Promise<unknown> {
  const res = await http(server, method, path, opts);
  if (res.status < 200 || res.status >= 300) {
    throw new TestkitError('HTTP', `${method} ${path} -> ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export interface RawDevice {
  server: string;
  username: string;
  userId: string;
  identity: IdentityKeyPair;
  device: DeviceKeys;
  deviceId: string;
}

export interface RawSession {
  token: string;
  sessionId: string;
}

/** Registers a new account with one device over plain HTTP. */
export async function registerRaw(
  server: string,
  username: string,
  opts?: { inviteCode?: string; displayName?: string },
): Promise<RawDevice> {
  const identity = generateIdentity();
  const device = certifyDevice(identity);
  const body = await httpOk(server, 'POST', '/v1/accounts', {
    json: {
      username,
      identityKey: toB64(identity.publicKey),
      device: {
        deviceId: device.deviceId,
        deviceKey: toB64(device.publicKey),
        issuedAt: device.issuedAt,
        cert: toB64(device.cert),
      },
      ...(opts?.inviteCode === undefined ? {} : { inviteCode: opts.inviteCode }),
      ...(opts?.displayName === undefined ? {} : { displayName: opts.displayName }),
    },
  });
  const account = parseUnknown(AccountResponse, body, 'account response');
  return { server, username, userId: account.userId, identity, device, deviceId: device.deviceId };
}

/** Challenge and login with the device key; returns the bearer token. */
export async function loginRaw(dev: Pick<RawDevice, 'server' | 'device'>): Promise<RawSession> {
  const ch = parseUnknown(
    ChallengeResponse,
    await httpOk(dev.server, 'POST', '/v1/auth/challenge', { json: { deviceId: dev.device.deviceId } }),
    'challenge',
  );
  const signature = signLogin(dev.device, fromB64(ch.challenge));
  const login = parseUnknown(
    LoginResponse,
    await httpOk(dev.server, 'POST', '/v1/auth/login', {
      json: { deviceId: dev.device.deviceId, challenge: ch.challenge, signature: toB64(signature) },
    }),
    'login',
  );
  return { token: login.token, sessionId: login.sessionId };
}

export const wsUrl = (server: string): string => {
  const u = new URL('/v1/ws', server);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
};

/** A random url-safe id (16 bytes, 22 characters), the shape the protocol's ids take. */
export const randomId = (): string => toB64(crypto.getRandomValues(new Uint8Array(16)));

/**
 * A WebSocket speaking protocol frames. Every parsed server frame is kept in `frames` (and
 * unparseable ones in `invalid`) so tests can assert on the whole conversation afterwards.
 */
export class RawSocket {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[] = [];
  readonly invalid: unknown[] = [];
  /** Mailbox items in arrival order, duplicates included. */
  readonly items: MailboxItem[] = [];
  closed: { code: number; reason: string } | undefined;
  onItems: ((items: MailboxItem[]) => void) | undefined;
  private nextRid = 1;
  private readonly waiters = new Map<number, (f: ServerFrame) => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      const data: unknown = ev.data;
      let value: unknown;
      try {
        value = typeof data === 'string' ? JSON.parse(data) : undefined;
      } catch {
        value = undefined;
      }
      const parsed = ServerFrame.safeParse(value);
      if (!parsed.success) {
        this.invalid.push(data);
        return;
      }
      const f = parsed.data;
      this.frames.push(f);
      if (f.t === 'deliver') {
        this.items.push(...f.items);
        this.onItems?.(f.items);
      }
      if ((f.t === 'ok' || f.t === 'error' || f.t === 'pong') && f.rid !== undefined) {
        const w = this.waiters.get(f.rid);
        if (w) {
          this.waiters.delete(f.rid);
          w(f);
        }
      }
    });
    ws.addEventListener('close', (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      for (const w of this.waiters.values())
        w({ t: 'error', code: 'UNAVAILABLE', message: `socket closed ${ev.code} ${ev.reason}` });
      this.waiters.clear();
    });
  }

  /** Opens the socket without saying hello. */
  static async open(server: string): Promise<RawSocket> {
    const ws = new WebSocket(wsUrl(server));
    const sock = new RawSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new TestkitError('WS', `cannot open ${wsUrl(server)}`)), {
        once: true,
      });
    });
    return sock;
  }

  /** Opens, says hello with the token and waits for `ready` (or throws with the error frame). */
  static async connect(server: string, token: string, timeoutMs = 10_000): Promise<RawSocket> {
    const sock = await RawSocket.open(server);
    sock.sendFrame({ t: 'hello', v: PROTOCOL_VERSION, token });
    await waitFor(
      () => sock.frames.find((f) => f.t === 'ready' || f.t === 'error') ?? sock.closed,
      timeoutMs,
      {
        what: 'ready',
      },
    );
    const first = sock.frames.find((f) => f.t === 'ready' || f.t === 'error');
    if (first?.t !== 'ready') {
      sock.close();
      const why = first?.t === 'error' ? first.code : `closed ${sock.closed?.code} ${sock.closed?.reason}`;
      throw new TestkitError('WS', `hello refused: ${why}`, { cause: first ?? sock.closed });
    }
    return sock;
  }

  sendFrame(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendText(text: string | Uint8Array): void {
    this.ws.send(text);
  }

  /** Sends a request frame with a fresh rid and resolves with its `ok`, `error` or `pong` answer. */
  request(
    make: (rid: number) => ClientFrame,
    timeoutMs = 10_000,
  ): Promise<Extract<ServerFrame, { t: 'ok' | 'error' | 'pong' }>> {
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        reject(new TestkitError('TIMEOUT', `no answer to rid ${rid} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(rid, (f) => {
        clearTimeout(timer);
        if (f.t === 'ok' || f.t === 'error' || f.t === 'pong') resolve(f);
      });
      this.sendFrame(make(rid));
    });
  }

  send(msg: OutgoingMessage, timeoutMs?: number) {
    return this.request((rid) => ({ t: 'send', rid, msg }), timeoutMs);
  }

  ping(timeoutMs?: number) {
    return this.request((rid) => ({ t: 'ping', rid }), timeoutMs);
  }

  ack(ids: number[]): void {
    if (ids.length > 0) this.sendFrame({ t: 'ack', ids });
  }

  close(code = 1000): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code);
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, 5000, { what: 'socket close' });
  }
}

/** A registered, logged-in raw device. */
export interface RawUser extends RawDevice, RawSession {}

export async function rawUser(server: string, username: string): Promise<RawUser> {
  const dev = await registerRaw(server, username);
  const session = await loginRaw(dev);
  return { ...dev, ...session };
}

/** Random bytes as a base64url message body (what an MLS ciphertext looks like to the server). */
export const opaqueBody = (n = 64): string => toB64(crypto.getRandomValues(new Uint8Array(n)));

/**
 * Creates a group owned by `owner` and adds `others` with one opaque "commit" at epoch 0, the way
 * an SDK would after claiming key packages. The server orders and fans out handshake messages
 * without reading them, so random bodies do. Returns the epoch after the commit.
 */
export async function rawGroup(
  owner: RawUser,
  ownerSock: RawSocket,
  others: RawDevice[],
): Promise<{ groupId: string; epoch: number }> {
  const groupId = randomId();
  await httpOk(owner.server, 'POST', '/v1/groups', { json: { groupId }, token: owner.token });
  if (others.length === 0) return { groupId, epoch: 0 };
  // The server lets a commit add a device only by using up a key-package claim of the committer:
  // each added device uploads one (opaque to the server), and the owner claims them.
  for (const o of others) {
    const session = await loginRaw(o);
    await httpOk(o.server, 'POST', '/v1/keypackages', {
      json: { keyPackages: [opaqueBody(48)] },
      token: session.token,
    });
  }
  for (const userId of new Set(others.map((o) => o.userId))) {
    await httpOk(owner.server, 'POST', '/v1/keypackages/claim', { json: { userId }, token: owner.token });
  }
  const res = await ownerSock.send({
    msgId: randomId(),
    groupId,
    kind: 'commit',
    epoch: 0,
    body: opaqueBody(),
    adds: others.map((o) => ({ userId: o.userId, deviceId: o.deviceId })),
    welcome: opaqueBody(),
  });
  if (res.t !== 'ok')
    throw new TestkitError('WS', `group commit refused: ${res.t === 'error' ? res.code : res.t}`);
  return { groupId, epoch: res.epoch };
}
