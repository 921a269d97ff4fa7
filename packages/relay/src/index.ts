/**
 * @kolokol/relay: Kolokol's TURN server (RFC 8489 STUN, RFC 8656 TURN), embeddable in the app server.
 *
 * Why hand-written: the app's TLS listener must hand TURN streams to a relay running in the same
 * process (one host and port for HTTP and TURN-over-TLS, which is what survives blocking), and no
 * maintained pure-TypeScript TURN server on npm can be embedded that way. node-turn (plain
 * JavaScript, RFC 5389/5766 era, UDP only in practice) has no stream hand-over, no coturn-style
 * REST credentials and no peer address policy; the Rust and C servers (coturn, turn-rs) are
 * separate processes, and coturn stays the supported alternative for large deployments.
 */
export {
  type RelayConfig,
  type RelayConfigInput,
  type ResolvedRelayConfig,
  relayConfigSchema,
} from './config.ts';
export { RelayError, type RelayErrorCode } from './errors.ts';
export { createRelay, type Relay, type RelayPorts } from './relay.ts';
export { isChannelData, isStun, STUN_SNIFF_BYTES } from './stun/classify.ts';
export {
  longTermKey,
  parseRestUsername,
  restPassword,
  type TurnCredentials,
  turnCredentials,
} from './turn/credentials.ts';
export { PeerPolicy, type PeerPolicyConfig } from './turn/policy.ts';
export {
  type DropReason,
  dropReasons,
  type RefuseReason,
  type RelayStats,
  refuseReasons,
} from './turn/server.ts';
