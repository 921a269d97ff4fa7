import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceCertTbs, loginTbs } from '@kolokol/protocol';
import pg from 'pg';
import WebSocket from 'ws';
import { type RunningServer, type ServerConfig, startServer } from '../src/index.ts';

export const rid = (): string => randomBytes(12).toString('base64url');

export interface KeyPair {
  publicB64: string;
  privateKey: KeyObject;
}

export function keyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('no public key');
  return { publicB64: jwk.x, privateKey };
}

export const signB64 = (k: KeyPair, bytes: Uint8Array): string =>
  sign(null, bytes, k.privateKey).toString('base64url');

export interface TestServer extends RunningServer {
  dataDir: string;
  api: Api;
  stop(): Promise<void>;
}

export const PG_URL = process.env.KOLOKOL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Undefined when PostgreSQL answers, else why not. */
export async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A server on a temporary data folder; with backend 'postgres', in a fresh schema dropped at stop. */
export async function testServer(
  config: Partial<ServerConfig> = {},
  backend: 'sqlite' | 'postgres' = 'sqlite',
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-server-'));
  const schema = `kolokol_test_${randomBytes(6).toString('hex')}`;
  const storage: ServerConfig['storage'] =
    backend === 'postgres' ? { kind: 'postgres', url: PG_URL, schema } : { kind: 'sqlite' };
  const server = await startServer({ logLevel: 'silent', storage, ...config, dataDir });
  return {
    ...server,
    dataDir,
    api: new Api(server.url),
    stop: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (backend === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`drop schema if exists "${schema}" cascade`);
        await client.end();
      }
    },
  };
}

export interface Res {
  status: number;
  body: unknown;
}

export class Api {
  readonly url: string;
  constructor(url: string) {
    this.url = url;
  }
  async req(method: string, path: string, body?: unknown, token?: string): Promise<Res> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${this.url}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed };
  }
}

/** Reads `body.error.code` of an error response, or undefined. */
export function errorCode(body: unknown): unknown {
  return field(field(body, 'error'), 'code');
}

export function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? Reflect.get(v, key) : undefined;
}

export function str(v: unknown, key: string): string {
  const f = field(v, key);
  if (typeof f !== 'string') throw new Error(`expected string ${key} in ${JSON.stringify(v)}`);
  return f;
}

export interface DeviceCreds {
  deviceId: string;
  key: KeyPair;
  issuedAt: number;
  cert: string;
}

export function makeDevice(identity: KeyPair, deviceId = rid()): DeviceCreds {
  const key = keyPair();
  const issuedAt = Date.now();
  const cert = signB64(identity, deviceCertTbs(deviceId, Buffer.from(key.publicB64, 'base64url'), issuedAt));
  return { deviceId, key, issuedAt, cert };
}

export const deviceRegistration = (d: DeviceCreds) => ({
  deviceId: d.deviceId,
  deviceKey: d.key.publicB64,
  issuedAt: d.issuedAt,
  cert: d.cert,
});

export interface User {
  username: string;
  userId: string;
  identity: KeyPair;
  device: DeviceCreds;
  token: string;
  sessionId: string;
}

let counter = 0;
export const uniqueName = (prefix = 'user'): string =>
  `${prefix}_${process.pid}_${++counter}_${randomBytes(3).toString('hex')}`.slice(0, 32);

export async function login(api: Api, d: DeviceCreds): Promise<{ token: string; sessionId: string }> {
  const ch = await api.req('POST', '/v1/auth/challenge', { deviceId: d.deviceId });
  if (ch.status !== 200) throw new Error(`challenge: ${JSON.stringify(ch.body)}`);
  const challenge = str(ch.body, 'challenge');
  const signature = signB64(d.key, loginTbs(d.deviceId, Buffer.from(challenge, 'base64url')));
  const res = await api.req('POST', '/v1/auth/login', { deviceId: d.deviceId, challenge, signature });
  if (res.status !== 200) throw new Error(`login: ${JSON.stringify(res.body)}`);
  return { token: str(res.body, 'token'), sessionId: str(res.body, 'sessionId') };
}

export async function registerUser(api: Api, extra: Record<string, unknown> = {}): Promise<User> {
  const identity = keyPair();
  const device = makeDevice(identity);
  const username = uniqueName();
  const res = await api.req('POST', '/v1/accounts', {
    username,
    identityKey: identity.publicB64,
    device: deviceRegistration(device),
    ...extra,
  });
  if (res.status !== 200) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  const { token, sessionId } = await login(api, device);
  return { username, userId: str(res.body, 'userId'), identity, device, token, sessionId };
}

export type Frame = Record<string, unknown>;

/** A raw WebSocket client that queues frames so tests can await the next one they want. */
export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];
  #rid = 1;

  constructor(url: string) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`);
    this.ws.on('message', (data) => {
      const v: unknown = JSON.parse(String(data));
      if (typeof v === 'object' && v !== null) this.frames.push({ ...v });
      for (const w of this.#waiters.splice(0)) w();
    });
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: String(reason) });
        for (const w of this.#waiters.splice(0)) w();
      }),
    );
  }

  static async connect(url: string, token: string): Promise<WsClient> {
    const c = new WsClient(url);
    await c.open();
    c.sendRaw({ t: 'hello', v: 1, token });
    const ready = await c.next((f) => f.t === 'ready' || f.t === 'error');
    if (ready.t !== 'ready') throw new Error(`hello failed: ${JSON.stringify(ready)}`);
    return c;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  sendRaw(v: unknown): void {
    this.ws.send(typeof v === 'string' ? v : JSON.stringify(v));
  }

  /** Removes and returns the first queued frame matching `pred`, waiting for it if needed. */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] ?? {};
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for a frame; have ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a message and waits for its ok or error. */
  async send(msg: Record<string, unknown>): Promise<Frame> {
    const r = this.#rid++;
    this.sendRaw({ t: 'send', rid: r, msg });
    return this.next((f) => (f.t === 'ok' || f.t === 'error') && f.rid === r);
  }

  /** Collects delivered items until `n` have arrived. */
  async items(n: number, timeoutMs = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) {
      const f = await this.next((x) => x.t === 'deliver', timeoutMs);
      const items = field(f, 'items');
      if (Array.isArray(items)) for (const it of items) out.push({ ...it });
    }
    return out;
  }

  ack(ids: number[]): void {
    this.sendRaw({ t: 'ack', ids });
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64url');

export const num = (v: unknown, key: string): number => {
  const f = field(v, key);
  if (typeof f !== 'number') throw new Error(`expected number ${key} in ${JSON.stringify(v)}`);
  return f;
};

/**
 * Gives each of `others` a key package (a last-resort one, so repeated calls keep working) and has
 * `claimer` claim them: since a commit may only add devices whose key package its sender claimed.
 */
export async function claimFor(api: Api, claimer: { token: string }, ...others: User[]): Promise<void> {
  for (const o of others) {
    const up = await api.req('POST', '/v1/keypackages', { keyPackages: [], lastResort: b64('kp') }, o.token);
    if (up.status !== 200) throw new Error(`key package upload: ${JSON.stringify(up.body)}`);
    const c = await api.req('POST', '/v1/keypackages/claim', { userId: o.userId }, claimer.token);
    if (c.status !== 200) throw new Error(`claim: ${JSON.stringify(c.body)}`);
  }
}

/** Creates a group owned by `owner` and adds `others` (claiming their key packages first); epoch 1. */
export async function groupWith(
  api: Api,
  owner: User,
  ownerWs: WsClient,
  ...others: User[]
): Promise<string> {
  const groupId = rid();
  const created = await api.req('POST', '/v1/groups', { groupId }, owner.token);
  if (created.status !== 200) throw new Error(`create group: ${JSON.stringify(created.body)}`);
  await claimFor(api, owner, ...others);
  const ok = await ownerWs.send({
    msgId: rid(),
    groupId,
    kind: 'commit',
    epoch: 0,
    body: b64('commit adding'),
    adds: others.map((o) => ({ userId: o.userId, deviceId: o.device.deviceId })),
    welcome: b64('welcome'),
  });
  if (ok.t !== 'ok' || ok.epoch !== 1) throw new Error(`group commit: ${JSON.stringify(ok)}`);
  return groupId;
}
