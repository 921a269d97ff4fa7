export { Backoff, type BackoffOptions } from './backoff.ts';
export {
  type AttachmentRef,
  ClientEvent,
  type ClientEvents,
  type ClientOptions,
  type ConnectionState,
  type Conversation,
  type DeviceInfo,
  KolokolClient,
  type SessionInfo,
  type StoredMessage,
} from './client.ts';
export { decodeEnvelope, type Envelope, type MessageBody } from './envelope.ts';
export { SdkError, type SdkErrorCode } from './errors.ts';
export { type Listener, TypedEmitter } from './events.ts';
export { IndexedDbStore } from './store/indexeddb.ts';
export { MemoryStore } from './store/memory.ts';
export type {
  AccountRecord,
  ConversationRecord,
  JsonValue,
  KeyPackageRecord,
  MessageRecord,
  OutboxRecord,
  PinRecord,
  SessionRecord,
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
