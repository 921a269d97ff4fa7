/**
 * The SFrame transform worker: `new Worker(new URL('@kolokol/calls/sframe-worker', import.meta.url),
 * { type: 'module' })`, handed to every RTCRtpScriptTransform of one call. Each sender and receiver
 * of the call gets a transformer (options {direction, kind}); all share one SFrameSession, whose
 * keys the page posts after every MLS epoch change. The per-frame logic is in sframe.ts (tested in
 * Node); this file only wires it to the worker events, so it declares the few worker types it uses
 * (the package compiles against the DOM library, not the worker one).
 */
import {
  type Direction,
  type EncodedFrameLike,
  type MediaKind,
  SFrameSession,
  type WorkerMessage,
} from './sframe.ts';

interface ScriptTransformer {
  readonly readable: ReadableStream<EncodedFrameLike>;
  readonly writable: WritableStream<EncodedFrameLike>;
  readonly options: { direction?: Direction; kind?: MediaKind };
}
interface WorkerScope {
  onrtctransform: ((ev: { transformer: ScriptTransformer }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
const session = new SFrameSession();

scope.onmessage = (ev) => {
  const msg = ev.data as WorkerMessage;
  if (msg?.type === 'keys') {
    try {
      session.setKeys(msg.keys);
    } catch (e) {
      scope.postMessage({ type: 'error', message: String(e) });
    }
  }
};

scope.onrtctransform = (ev) => {
  const t = ev.transformer;
  const direction = t.options.direction === 'receive' ? 'receive' : 'send';
  const kind = t.options.kind === 'video' ? 'video' : 'audio';
  const fn = session.transformer(direction, kind);
  t.readable
    .pipeThrough(new TransformStream<EncodedFrameLike, EncodedFrameLike>({ transform: fn }))
    .pipeTo(t.writable)
    .catch((e: unknown) => scope.postMessage({ type: 'error', message: String(e) }));
};
