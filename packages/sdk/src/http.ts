/**
 * The REST half of the wire contract (packages/protocol/src/http.ts). Every response body is
 * parsed with the protocol's zod schema; every failure becomes an SdkError with the wire code
 * (or NETWORK / BAD_RESPONSE when the server could not be reached or answered nonsense).
 */
import {
  AccountResponse,
  type AddDeviceRequest,
  AppealResponse,
  AttachmentResponse,
  ChallengeResponse,
  ClaimKeyPackagesResponse,
  CreateLinkResponse,
  DevicesResponse,
  ErrorBody,
  GroupResponse,
  KeyPackageCount,
  LinkResponse,
  LoginResponse,
  NoticesResponse,
  type PushSubscriptionRequest,
  type RegisterRequest,
  type ReportRequest,
  ReportResponse,
  ServerInfo,
  SessionsResponse,
  TurnResponse,
  type UploadKeyPackagesRequest,
  UploadProgress,
  UploadResponse,
  UserEntry,
  VapidResponse,
} from '@kolokol/protocol';
import type { z } from 'zod';
import { SdkError } from './errors.ts';
import type { FetchLike, FetchResponseLike } from './transport.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface CallOptions {
  auth: boolean;
  body?: unknown;
  bytes?: Uint8Array;
  signal?: AbortSignal | undefined;
}

export class HttpApi {
  readonly #base: string;
  readonly #fetch: FetchLike;
  /** Returns the current bearer token (logging in if needed); `refresh` forces a new login. */
  readonly #auth: (refresh: boolean) => Promise<string>;

  constructor(server: string, fetch: FetchLike, auth: (refresh: boolean) => Promise<string>) {
    this.#base = `${server.replace(/\/+$/, '')}/v1`;
    this.#fetch = fetch;
    this.#auth = auth;
  }

  async #raw(
    method: Method,
    path: string,
    token: string | undefined,
    body?: unknown,
    bytes?: Uint8Array,
    signal?: AbortSignal,
  ): Promise<{
    status: number;
    ok: boolean;
    text: () => Promise<string>;
    buf: () => Promise<ArrayBuffer>;
    res: FetchResponseLike;
  }> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let payload: string | Uint8Array | undefined;
    if (bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      payload = bytes;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    try {
      const res = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        ...(signal === undefined ? {} : { signal }),
      });
      return { status: res.status, ok: res.ok, text: () => res.text(), buf: () => res.arrayBuffer(), res };
    } catch (cause) {
      if (signal?.aborted === true) throw new SdkError('ABORTED', `${method} ${path}: aborted`, { cause });
      throw new SdkError(
        'NETWORK',
        `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
        },
      );
    }
  }

  async #error(method: Method, path: string, status: number, text: string): Promise<SdkError> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const parsed = ErrorBody.safeParse(value);
    if (!parsed.success) return new SdkError('BAD_RESPONSE', `${method} ${path}: HTTP ${status}`);
    const e = parsed.data.error;
    return new SdkError(e.code, e.message, e.details === undefined ? undefined : { details: e.details });
  }

  /** One request; `auth` adds the bearer token and re-logs in once if the token is refused. */
  async #call(method: Method, path: string, o: CallOptions) {
    let token = o.auth ? await this.#auth(false) : undefined;
    let res = await this.#raw(method, path, token, o.body, o.bytes, o.signal);
    if (o.auth && res.status === 401) {
      const err = await this.#error(method, path, res.status, await res.text());
      if (err.code !== 'UNAUTHORIZED') throw err;
      token = await this.#auth(true);
      res = await this.#raw(method, path, token, o.body, o.bytes, o.signal);
    }
    if (!res.ok) throw await this.#error(method, path, res.status, await res.text());
    return res;
  }

  async #json<S extends z.ZodType>(
    schema: S,
    method: Method,
    path: string,
    o: CallOptions,
  ): Promise<z.output<S>> {
    const res = await this.#call(method, path, o);
    const text = await res.text();
    let value: unknown;
    try {
      value = text === '' ? {} : JSON.parse(text);
    } catch (cause) {
      throw new SdkError('BAD_RESPONSE', `${method} ${path}: not JSON`, { cause });
    }
    const r = schema.safeParse(value);
    if (!r.success)
      throw new SdkError('BAD_RESPONSE', `${method} ${path}: ${r.error.message}`, { cause: r.error });
    return r.data;
  }

  info() {
    return this.#json(ServerInfo, 'GET', '/info', { auth: false });
  }
  register(body: RegisterRequest) {
    return this.#json(AccountResponse, 'POST', '/accounts', { auth: false, body });
  }
  challenge(deviceId: string) {
    return this.#json(ChallengeResponse, 'POST', '/auth/challenge', { auth: false, body: { deviceId } });
  }
  login(body: { deviceId: string; challenge: string; signature: string }) {
    return this.#json(LoginResponse, 'POST', '/auth/login', { auth: false, body });
  }
  sessions() {
    return this.#json(SessionsResponse, 'GET', '/sessions', { auth: true });
  }
  async revokeSession(sessionId: string): Promise<void> {
    await this.#call('DELETE', `/sessions/${encodeURIComponent(sessionId)}`, { auth: true });
  }
  devices() {
    return this.#json(DevicesResponse, 'GET', '/devices', { auth: true });
  }
  async revokeDevice(deviceId: string): Promise<void> {
    await this.#call('DELETE', `/devices/${encodeURIComponent(deviceId)}`, { auth: true });
  }
  createLink(sealed: string) {
    return this.#json(CreateLinkResponse, 'POST', '/links', { auth: true, body: { sealed } });
  }
  getLink(linkId: string) {
    return this.#json(LinkResponse, 'GET', `/links/${encodeURIComponent(linkId)}`, { auth: false });
  }
  async addDevice(body: AddDeviceRequest): Promise<void> {
    await this.#call('POST', '/devices', { auth: false, body });
  }
  userByName(username: string) {
    return this.#json(UserEntry, 'GET', `/users/${encodeURIComponent(username)}`, { auth: true });
  }
  userById(userId: string) {
    return this.#json(UserEntry, 'GET', `/users/id/${encodeURIComponent(userId)}`, { auth: true });
  }
  uploadKeyPackages(body: UploadKeyPackagesRequest) {
    return this.#json(KeyPackageCount, 'POST', '/keypackages', { auth: true, body });
  }
  keyPackageCount() {
    return this.#json(KeyPackageCount, 'GET', '/keypackages/count', { auth: true });
  }
  claimKeyPackages(userId: string) {
    return this.#json(ClaimKeyPackagesResponse, 'POST', '/keypackages/claim', {
      auth: true,
      body: { userId },
    });
  }
  report(body: ReportRequest) {
    return this.#json(ReportResponse, 'POST', '/reports', { auth: true, body });
  }
  appeal(text: string) {
    return this.#json(AppealResponse, 'POST', '/appeals', { auth: true, body: { text } });
  }
  notices(after: number) {
    return this.#json(NoticesResponse, 'GET', `/notices?after=${after}`, { auth: true });
  }
  async createGroup(groupId: string): Promise<void> {
    await this.#call('POST', '/groups', { auth: true, body: { groupId } });
  }
  group(groupId: string) {
    return this.#json(GroupResponse, 'GET', `/groups/${encodeURIComponent(groupId)}`, { auth: true });
  }
  uploadAttachment(bytes: Uint8Array) {
    return this.#json(AttachmentResponse, 'POST', '/attachments', { auth: true, bytes });
  }
  /**
   * Streams the blob when the platform's response has a body stream, reporting progress against
   * Content-Length (or `expected`); otherwise reads it whole.
   */
  async downloadAttachment(
    attachmentId: string,
    o: {
      onProgress?: ((received: number, total: number) => void) | undefined;
      signal?: AbortSignal | undefined;
      expected?: number;
    } = {},
  ): Promise<Uint8Array> {
    const path = `/attachments/${encodeURIComponent(attachmentId)}`;
    const res = await this.#call('GET', path, { auth: true, signal: o.signal });
    const header = res.res.headers?.get('content-length');
    const total = header != null && /^\d+$/.test(header) ? Number(header) : (o.expected ?? 0);
    const reader = res.res.body?.getReader();
    if (reader === undefined) {
      const all = new Uint8Array(await res.buf());
      o.onProgress?.(all.length, Math.max(total, all.length));
      return all;
    }
    const parts: Uint8Array[] = [];
    let received = 0;
    o.onProgress?.(0, total);
    try {
      for (;;) {
        if (o.signal?.aborted === true) {
          await reader.cancel().catch(() => {});
          throw new SdkError('ABORTED', `GET ${path}: aborted`);
        }
        const { done, value } = await reader.read();
        if (done) break;
        if (value === undefined) continue;
        parts.push(value);
        received += value.length;
        o.onProgress?.(received, Math.max(total, received));
      }
    } catch (cause) {
      if (cause instanceof SdkError) throw cause;
      if (o.signal?.aborted === true) throw new SdkError('ABORTED', `GET ${path}: aborted`, { cause });
      throw new SdkError(
        'NETWORK',
        `GET ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    const out = new Uint8Array(received);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
  createUpload(size: number) {
    return this.#json(UploadResponse, 'POST', '/attachments/uploads', { auth: true, body: { size } });
  }
  uploadChunk(uploadId: string, offset: number, bytes: Uint8Array, signal?: AbortSignal) {
    return this.#json(
      UploadProgress,
      'PUT',
      `/attachments/uploads/${encodeURIComponent(uploadId)}?offset=${offset}`,
      {
        auth: true,
        bytes,
        signal,
      },
    );
  }
  completeUpload(uploadId: string) {
    return this.#json(
      AttachmentResponse,
      'POST',
      `/attachments/uploads/${encodeURIComponent(uploadId)}/complete`,
      {
        auth: true,
      },
    );
  }
  async cancelUpload(uploadId: string): Promise<void> {
    await this.#call('DELETE', `/attachments/uploads/${encodeURIComponent(uploadId)}`, { auth: true });
  }
  async deleteAccount(): Promise<void> {
    await this.#call('DELETE', '/accounts/me', { auth: true });
  }
  turn() {
    return this.#json(TurnResponse, 'GET', '/turn', { auth: true });
  }
  vapid() {
    return this.#json(VapidResponse, 'GET', '/push/vapid', { auth: false });
  }
  async putPushSubscription(body: PushSubscriptionRequest): Promise<void> {
    await this.#call('PUT', '/push/subscription', { auth: true, body });
  }
  async deletePushSubscription(): Promise<void> {
    await this.#call('DELETE', '/push/subscription', { auth: true });
  }
}
