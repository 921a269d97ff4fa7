/**
 * The network surface the SDK needs, declared here in the smallest form that both browsers and
 * Node 24 satisfy, so the SDK type-checks without DOM or Node types. Tests inject their own to
 * duplicate, delay or reorder frames.
 */
/** The part of a ReadableStream reader that download progress needs. */
export interface StreamReaderLike {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

export interface FetchResponseLike {
  readonly status: number;
  readonly ok: boolean;
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Optional so that simple test doubles still fit; without them a download reports no progress. */
  readonly headers?: { get(name: string): string | null };
  readonly body?: { getReader(): StreamReaderLike } | null;
}

export interface FetchInitLike {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
}

export type FetchLike = (url: string, init?: FetchInitLike) => Promise<FetchResponseLike>;

export interface WebSocketMessageEventLike {
  readonly data: unknown;
}
export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: WebSocketMessageEventLike) => void) | null;
  onclose: ((ev: WebSocketCloseEventLike) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface Transport {
  fetch: FetchLike;
  WebSocket: WebSocketCtor;
}

interface PlatformGlobals {
  fetch?: FetchLike;
  WebSocket?: WebSocketCtor;
}

/** The platform's own fetch and WebSocket (browsers, Node >= 22). */
export function defaultTransport(): Transport {
  const g = globalThis as unknown as PlatformGlobals;
  const f = g.fetch;
  const ws = g.WebSocket;
  if (f === undefined || ws === undefined) {
    throw new Error('this platform has no global fetch/WebSocket: pass a Transport');
  }
  // fetch must be called with globalThis as `this` in browsers.
  return { fetch: (url, init) => f.call(globalThis, url, init), WebSocket: ws };
}

export const WS_OPEN = 1;
