export { Backoff, type BackoffOptions } from './backoff.ts';
export * from './calls/index.ts';
export {
  type AttachmentRef,
  ClientEvent,
  type ClientEvents,
  type ClientOptions,
  type ConnectionState,
  type Contact,
  type Conversation,
  type DeviceInfo,
  KolokolClient,
  type MessageStatus,
  type Profile,
  type SessionInfo,
  type Settings,
  type StoredMessage,
} from './client.ts';
export {
  type CallRequest,
  ConsentEvent,
  type ConsentEvents,
  type ConsentRequest,
  type ContextCard,
  type GroupOverview,
  type RulesPatch,
} from './consent/manager.ts';
export {
  Audience,
  CONSENT_KINDS,
  type ConsentKind,
  ConsentRules,
  DEFAULT_RULES,
  effectiveRules,
  type Rule,
  STRICT_FLOOR,
} from './consent/rules.ts';
export {
  type CallEnvelope,
  type CallSignal,
  decodeEnvelope,
  type Envelope,
  type MessageBody,
  type SystemEvent,
} from './envelope.ts';
export { SdkError, type SdkErrorCode } from './errors.ts';
export { type Listener, TypedEmitter } from './events.ts';
export type { FrankingRecord } from './franking.ts';
export {
  Fronts,
  frontOrigin,
  MAX_FRONTS,
  type ProxyLink,
  parseProxyLink,
  proxyFront,
  proxyLink,
} from './fronts.ts';
export { effectiveAdmins, isAdmin } from './groups.ts';
export { ModerationEvent, type ModerationEvents, type ReportOptions } from './moderation.ts';
export { IndexedDbStore } from './store/indexeddb.ts';
export { MemoryStore } from './store/memory.ts';
export type {
  AccountRecord,
  CallEndReason,
  CallRecord,
  ContactRecord,
  ConversationRecord,
  ConversationStateRecord,
  JsonValue,
  KeyPackageRecord,
  MessageRecord,
  OutboxRecord,
  PinRecord,
  ProfileRecord,
  SessionRecord,
  SettingsRecord,
  UserRef,
} from './store/records.ts';
export { KvStore, type RawStore, type Store, type StoreWriter } from './store/store.ts';
export {
  defaultTransport,
  type FetchLike,
  type Transport,
  type WebSocketCtor,
  type WebSocketLike,
} from './transport.ts';
