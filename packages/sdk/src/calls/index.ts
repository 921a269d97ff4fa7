export { type CallState, isDurable } from './machine.ts';
export {
  CALL_SFRAME,
  Call,
  CallEvent,
  type CallEvents,
  type CallHost,
  CallManager,
  type CallOptions,
} from './manager.ts';
export type { MediaEngine, MediaEngineFactory, MediaEngineOptions, MediaState } from './media.ts';
export {
  type CandidateType,
  candidateType,
  type IceTransportPolicy,
  mayShareCandidate,
  sanitizeSdp,
} from './policy.ts';
