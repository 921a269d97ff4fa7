/**
 * The REST half of the wire contract (packages/protocol/src/http.ts). Every response body is
 * parsed with the protocol's zod schema; every failure becomes an SdkError with the wire code
 * (or NETWORK / BAD_RESPONSE when the server could not be reached or answered nonsense).
 *
 * Requests go to the current front (fronts.ts). A request that cannot reach it, or gets no answer
 * within `timeoutMs` (a censor may freeze a connection instead of refusing it), moves the fronts
 * on; reads and the requests marked `retry` are then tried once more on the next front.
 */
import {
  AccountResponse,
  type AddDeviceRequest,
  AppealResponse,
  AttachmentResponse,
  BlocksResponse,
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
import { Fronts } from './fronts.ts';
import type { FetchLike, FetchResponseLike } from './transport.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface CallOptions {
  auth: boolean;
  body?: unknown;
  bytes?: Uint8Array;
  signal?: AbortSignal | undefined;
  /** Safe to send twice (the server may have handled the first one whose answer never came). */
  retry?: boolean;
  /** Streams (uploads, downloads) take as long as they take: progress shows, cancel stops them. */
  untimed?: boolean;
}

/** An answer to an API request takes this long at most before its front counts as failed. */
export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;

interface RawResponse {
  status: number;
  ok: boolean;
  text: () => Promise<string>;
  buf: () => Promise<ArrayBuffer>;
  res: FetchResponseLike;
}

export class HttpApi {
  readonly fronts: Fronts;
  readonly #fetch: FetchLike;
  /** Returns the current bearer token (logging in if needed); `refresh` forces a new login. */
  readonly #auth: (refresh: boolean) => Promise<string>;
  readonly #timeoutMs: number;

  constructor(
    server: string | Fronts,
    fetch: FetchLike,
    auth: (refresh: boolean) => Promise<string>,
    o: { timeoutMs?: number } = {},
  ) {
    this.fronts = typeof server === 'string' ? new Fronts(server) : server;
    this.#fetch = fetch;
    this.#auth = auth;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  }

  /** One request on the current front; a network failure or timeout moves the fronts on and, for reads and `retry` requests, tries the next front once. */
  async #raw(method: Method, path: string, token: string | undefined, o: CallOptions): Promise<RawResponse> {
    const base = this.fronts.current;
    try {
      return await this.#rawOn(base, method, path, token, o);
    } catch (e) {
      if (!(e instanceof SdkError) || e.code !== 'NETWORK') throw e;
      this.fronts.failed(base);
      if ((method !== 'GET' && o.retry !== true) || this.fronts.current === base) throw e;
      return this.#rawOn(this.fronts.current, method, path, token, o);
    }
  }

  async #rawOn(
    front: string,
    method: Method,
    path: string,
    token: string | undefined,
    o: CallOptions,
  ): Promise<RawResponse> {
    const { body, bytes, signal } = o;
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
    // Uploads and downloads stream for as long as their size needs: no deadline but the caller's.
    const streamed = bytes !== undefined || o.untimed === true;
    const timeout = streamed ? undefined : AbortSignal.timeout(this.#timeoutMs);
    const signals = [signal, timeout].filter((x): x is AbortSignal => x !== undefined);
    const combined = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      const res = await this.#fetch(`${front}/v1${path}`, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        ...(combined === undefined ? {} : { signal: combined }),
      });
      // The body of a small answer is read here, under the same timeout: a frozen connection
      // can deliver the headers and then nothing.
      if (streamed) {
        return { status: res.status, ok: res.ok, text: () => res.text(), buf: () => res.arrayBuffer(), res };
      }
      const text = await res.text();
      return { status: res.status, ok: res.ok, text: async () => text, buf: () => res.arrayBuffer(), res };
    } catch (cause) {
      if (signal?.aborted === true) throw new SdkError('ABORTED', `${method} ${path}: aborted`, { cause });
      const why =
        timeout?.aborted === true
          ? `no answer within ${this.#timeoutMs / 1000} s from ${front}`
          : cause instanceof Error
            ? cause.message
            : String(cause);
      throw new SdkError('NETWORK', `${method} ${path}: ${why}`, { cause });
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
    let res = await this.#raw(method, path, token, o);
    if (o.auth && res.status === 401) {
      const err = await this.#error(method, path, res.status, await res.text());
      if (err.code !== 'UNAUTHORIZED') throw err;
      token = await this.#auth(true);
      res = await this.#raw(method, path, token, o);
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
    return this.#json(ChallengeResponse, 'POST', '/auth/challenge', {
      auth: false,
      body: { deviceId },
      retry: true,
    });
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
    return this.#json(KeyPackageCount, 'POST', '/keypackages', { auth: true, body, retry: true });
  }
  keyPackageCount() {
    return this.#json(KeyPackageCount, 'GET', '/keypackages/count', { auth: true });
  }
  claimKeyPackages(userId: string) {
    // A retry may use up one more key package of theirs: harmless, they are one-time anyway.
    return this.#json(ClaimKeyPackagesResponse, 'POST', '/keypackages/claim', {
      auth: true,
      body: { userId },
      retry: true,
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
  blocks() {
    return this.#json(BlocksResponse, 'GET', '/blocks', { auth: true });
  }
  block(userId: string) {
    return this.#json(BlocksResponse, 'PUT', `/blocks/${encodeURIComponent(userId)}`, {
      auth: true,
      retry: true,
    });
  }
  unblock(userId: string) {
    return this.#json(BlocksResponse, 'DELETE', `/blocks/${encodeURIComponent(userId)}`, {
      auth: true,
      retry: true,
    });
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
    const res = await this.#call('GET', path, { auth: true, signal: o.signal, untimed: true });
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
