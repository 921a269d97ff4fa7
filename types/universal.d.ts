/**
 * The web-platform globals that exist in both browsers and Node 24. Packages that must run in
 * both (protocol, crypto, sdk) see these and nothing else: no DOM, no Node types, so a stray
 * `document` or `Buffer` fails the type check instead of failing on one platform at run time.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
declare var console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
};
type TimerHandle = { readonly __timer: unique symbol } | number;
declare function setTimeout(handler: () => void, timeout?: number): TimerHandle;
declare function clearTimeout(id: TimerHandle | undefined): void;
declare function setInterval(handler: () => void, timeout?: number): TimerHandle;
declare function clearInterval(id: TimerHandle | undefined): void;
declare function queueMicrotask(callback: () => void): void;
declare function structuredClone<T>(value: T): T;
declare var crypto: {
  getRandomValues<T extends Uint8Array>(array: T): T;
  randomUUID(): string;
};
declare class AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
  throwIfAborted(): void;
  static timeout(ms: number): AbortSignal;
  static any(signals: AbortSignal[]): AbortSignal;
}
declare class AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
/** WHATWG URL, in browsers and Node alike (the SDK parses the fronts a server publishes). */
declare class URL {
  constructor(url: string, base?: string);
  readonly origin: string;
  readonly protocol: string;
  readonly host: string;
  readonly hostname: string;
  readonly port: string;
  readonly pathname: string;
  readonly search: string;
  readonly href: string;
}
