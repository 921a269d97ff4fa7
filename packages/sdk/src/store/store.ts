/**
 * The client's persistent state. Backends implement five raw primitives over string-keyed
 * collections of JSON values (`RawStore`); `KvStore` builds the typed API on top, so encoding,
 * key layout and parsing-on-read exist once and every backend passes the same suite.
 *
 * Writes that must happen together (new group state + message + "msgId seen") go through
 * `atomic(w => ...)`: the callback only collects writes, the backend applies them in one
 * transaction (all or nothing), and the promise resolves after the transaction is durable.
 */
import { z } from 'zod';
import { SdkError } from '../errors.ts';
import {
  AccountRecord,
  CallRecord,
  ContactRecord,
  ConversationRecord,
  ConversationStateRecord,
  GroupStateRecord,
  type JsonValue,
  KeyPackageRecord,
  MessageRecord,
  OutboxRecord,
  PendingRecord,
  PinRecord,
  ProfileRecord,
  SessionRecord,
  SettingsRecord,
} from './records.ts';

export const Collections = [
  'meta',
  'keypackages',
  'groups',
  'conversations',
  'messages',
  'seen',
  'outbox',
  'pins',
  'kv',
  /** `${conversationId}/${msgId}` -> where the message is stored (its key in 'messages'). */
  'msgids',
  'contacts',
  'profiles',
  /** Per-conversation UI state: unread, last message, draft, muted. */
  'convstate',
  /** userId -> {} for each blocked user. */
  'blocked',
  /** Mailbox items held until their group or epoch is there (acknowledged to the server). */
  'pending',
  /** callId -> CallRecord: call history. */
  'calls',
] as const;
export type Collection = (typeof Collections)[number];

export type RawOp =
  | { op: 'put'; col: Collection; key: string; value: string }
  | { op: 'del'; col: Collection; key: string };

export interface RawListOptions {
  /** Only keys starting with this string. */
  prefix?: string;
  limit?: number;
  /** Descending key order. */
  reverse?: boolean;
}

/** What a backend implements. Values are JSON texts; keys are compared as strings. */
export interface RawStore {
  rawGet(col: Collection, key: string): Promise<string | undefined>;
  rawList(col: Collection, opts?: RawListOptions): Promise<{ key: string; value: string }[]>;
  rawCount(col: Collection): Promise<number>;
  /** Applies all ops in one transaction, durably, or none of them. */
  rawWrite(ops: RawOp[]): Promise<void>;
  close(): Promise<void>;
}

/** Collects writes for one atomic transaction. */
export interface StoreWriter {
  putAccount(a: AccountRecord): this;
  putSession(s: SessionRecord): this;
  deleteSession(): this;
  putKeyPackage(k: KeyPackageRecord): this;
  deleteKeyPackage(ref: string): this;
  putGroupState(g: GroupStateRecord): this;
  deleteGroupState(groupId: string): this;
  putConversation(c: ConversationRecord): this;
  putMessage(m: MessageRecord): this;
  markSeen(key: string, at?: number): this;
  putOutbox(o: OutboxRecord): this;
  deleteOutbox(o: { conversationId: string; order: string }): this;
  putPin(p: PinRecord): this;
  setKv(key: string, value: JsonValue): this;
  deleteKv(key: string): this;
  putContact(c: ContactRecord): this;
  deleteContact(userId: string): this;
  putProfile(p: ProfileRecord): this;
  putConversationState(conversationId: string, s: ConversationStateRecord): this;
  putSettings(s: SettingsRecord): this;
  setBlocked(userId: string, blocked: boolean): this;
  putPending(p: PendingRecord): this;
  deletePending(item: PendingRecord['item']): this;
  putCall(c: CallRecord): this;
}

export interface Store {
  getAccount(): Promise<AccountRecord | undefined>;
  getSession(): Promise<SessionRecord | undefined>;
  getKeyPackage(ref: string): Promise<KeyPackageRecord | undefined>;
  countKeyPackages(): Promise<number>;
  getGroupState(groupId: string): Promise<GroupStateRecord | undefined>;
  getConversation(id: string): Promise<ConversationRecord | undefined>;
  listConversations(): Promise<ConversationRecord[]>;
  getMessage(conversationId: string, seq: number): Promise<MessageRecord | undefined>;
  /** Oldest first; with `limit`, the latest `limit` messages (still oldest first). */
  listMessages(conversationId: string, opts?: { limit?: number }): Promise<MessageRecord[]>;
  isSeen(key: string): Promise<boolean>;
  /** All queued sends: by conversation, then in send order. */
  listOutbox(conversationId?: string): Promise<OutboxRecord[]>;
  getPin(userId: string): Promise<PinRecord | undefined>;
  listPins(): Promise<PinRecord[]>;
  /** Free-form small values (e.g. the CLI's last-read cursor); parse the result before use. */
  getKv(key: string): Promise<unknown>;
  setKv(key: string, value: JsonValue): Promise<void>;
  /** A message by its msgId (server messages and local notices alike). */
  getMessageById(conversationId: string, id: string): Promise<MessageRecord | undefined>;
  listContacts(): Promise<ContactRecord[]>;
  getContact(userId: string): Promise<ContactRecord | undefined>;
  getProfile(userId: string): Promise<ProfileRecord | undefined>;
  listProfiles(): Promise<ProfileRecord[]>;
  /** Defaults (unread 0) when nothing was stored yet. */
  getConversationState(conversationId: string): Promise<ConversationStateRecord>;
  /** Defaults when nothing was stored yet. */
  getSettings(): Promise<SettingsRecord>;
  isBlocked(userId: string): Promise<boolean>;
  listBlocked(): Promise<string[]>;
  /** Held items, in (group, epoch, seq) order; of one group when given. */
  listPending(groupId?: string): Promise<PendingRecord[]>;
  countPending(): Promise<number>;
  getCall(callId: string): Promise<CallRecord | undefined>;
  /** Call history, newest first. */
  listCalls(opts?: { limit?: number }): Promise<CallRecord[]>;
  /** Runs `fn` to collect writes, then applies them in one durable transaction. */
  atomic(fn: (w: StoreWriter) => void): Promise<void>;
  /** Deletes everything (logout, account deletion); the store stays open and empty. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

const pad = (n: number): string => String(n).padStart(16, '0');
const SEP = '/';
/**
 * Messages sort by server seq; a local notice inserted after seq N gets `N.local`, which sorts
 * after N and before N+1 (a string that extends another sorts after it).
 */
export const messageKey = (conversationId: string, seq: number, local?: number): string =>
  `${conversationId}${SEP}${pad(seq)}${local === undefined ? '' : `.${pad(local)}`}`;
const msgIdKey = (conversationId: string, id: string): string => `${conversationId}${SEP}${id}`;
export const outboxKey = (conversationId: string, order: string): string => `${conversationId}${SEP}${order}`;
export const pendingKey = (i: PendingRecord['item']): string =>
  `${i.groupId}${SEP}${pad(i.epoch)}${SEP}${pad(i.seq)}${SEP}${i.sender.deviceId}:${i.msgId}:${i.kind}`;

const SeenRecord = z.object({ at: z.number() });
const MsgIdRecord = z.object({ key: z.string() });
const BlockedRecord = z.object({});

function decode<S extends z.ZodType>(schema: S, text: string, what: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new SdkError('STORE', `stored ${what} is not JSON`, { cause });
  }
  const r = schema.safeParse(value);
  if (!r.success)
    throw new SdkError('STORE', `stored ${what} is invalid: ${r.error.message}`, { cause: r.error });
  return r.data;
}

function encode<S extends z.ZodType>(schema: S, value: z.output<S>): string {
  return JSON.stringify(z.encode(schema, value));
}

class Writer implements StoreWriter {
  readonly ops: RawOp[] = [];
  #put<S extends z.ZodType>(col: Collection, key: string, schema: S, value: z.output<S>): this {
    this.ops.push({ op: 'put', col, key, value: encode(schema, value) });
    return this;
  }
  #del(col: Collection, key: string): this {
    this.ops.push({ op: 'del', col, key });
    return this;
  }
  putAccount(a: AccountRecord): this {
    return this.#put('meta', 'account', AccountRecord, a);
  }
  putSession(s: SessionRecord): this {
    return this.#put('meta', 'session', SessionRecord, s);
  }
  deleteSession(): this {
    return this.#del('meta', 'session');
  }
  putKeyPackage(k: KeyPackageRecord): this {
    return this.#put('keypackages', k.ref, KeyPackageRecord, k);
  }
  deleteKeyPackage(ref: string): this {
    return this.#del('keypackages', ref);
  }
  putGroupState(g: GroupStateRecord): this {
    return this.#put('groups', g.groupId, GroupStateRecord, g);
  }
  deleteGroupState(groupId: string): this {
    return this.#del('groups', groupId);
  }
  putConversation(c: ConversationRecord): this {
    return this.#put('conversations', c.id, ConversationRecord, c);
  }
  putMessage(m: MessageRecord): this {
    const key = messageKey(m.conversationId, m.seq, m.local);
    this.#put('msgids', msgIdKey(m.conversationId, m.id), MsgIdRecord, { key });
    return this.#put('messages', key, MessageRecord, m);
  }
  markSeen(key: string, at: number = Date.now()): this {
    return this.#put('seen', key, SeenRecord, { at });
  }
  putOutbox(o: OutboxRecord): this {
    return this.#put('outbox', outboxKey(o.conversationId, o.order), OutboxRecord, o);
  }
  deleteOutbox(o: { conversationId: string; order: string }): this {
    return this.#del('outbox', outboxKey(o.conversationId, o.order));
  }
  putPin(p: PinRecord): this {
    return this.#put('pins', p.userId, PinRecord, p);
  }
  setKv(key: string, value: JsonValue): this {
    this.ops.push({ op: 'put', col: 'kv', key, value: JSON.stringify(value) });
    return this;
  }
  deleteKv(key: string): this {
    return this.#del('kv', key);
  }
  putContact(c: ContactRecord): this {
    return this.#put('contacts', c.userId, ContactRecord, c);
  }
  deleteContact(userId: string): this {
    return this.#del('contacts', userId);
  }
  putProfile(p: ProfileRecord): this {
    return this.#put('profiles', p.userId, ProfileRecord, p);
  }
  putConversationState(conversationId: string, s: ConversationStateRecord): this {
    return this.#put('convstate', conversationId, ConversationStateRecord, s);
  }
  putSettings(s: SettingsRecord): this {
    return this.#put('meta', 'settings', SettingsRecord, s);
  }
  setBlocked(userId: string, blocked: boolean): this {
    return blocked ? this.#put('blocked', userId, BlockedRecord, {}) : this.#del('blocked', userId);
  }
  putPending(p: PendingRecord): this {
    return this.#put('pending', pendingKey(p.item), PendingRecord, p);
  }
  deletePending(item: PendingRecord['item']): this {
    return this.#del('pending', pendingKey(item));
  }
  putCall(c: CallRecord): this {
    return this.#put('calls', c.callId, CallRecord, c);
  }
}

/** The typed store API over a backend's raw primitives. */
export abstract class KvStore implements Store, RawStore {
  abstract rawGet(col: Collection, key: string): Promise<string | undefined>;
  abstract rawList(col: Collection, opts?: RawListOptions): Promise<{ key: string; value: string }[]>;
  abstract rawCount(col: Collection): Promise<number>;
  abstract rawWrite(ops: RawOp[]): Promise<void>;
  abstract close(): Promise<void>;

  async #get<S extends z.ZodType>(col: Collection, key: string, schema: S, what: string) {
    const text = await this.rawGet(col, key);
    return text === undefined ? undefined : decode(schema, text, what);
  }
  async #list<S extends z.ZodType>(col: Collection, schema: S, what: string, opts?: RawListOptions) {
    const rows = await this.rawList(col, opts);
    return rows.map((r) => decode(schema, r.value, what));
  }

  getAccount() {
    return this.#get('meta', 'account', AccountRecord, 'account');
  }
  getSession() {
    return this.#get('meta', 'session', SessionRecord, 'session');
  }
  getKeyPackage(ref: string) {
    return this.#get('keypackages', ref, KeyPackageRecord, 'key package');
  }
  countKeyPackages(): Promise<number> {
    return this.rawCount('keypackages');
  }
  getGroupState(groupId: string) {
    return this.#get('groups', groupId, GroupStateRecord, 'group state');
  }
  getConversation(id: string) {
    return this.#get('conversations', id, ConversationRecord, 'conversation');
  }
  listConversations() {
    return this.#list('conversations', ConversationRecord, 'conversation');
  }
  getMessage(conversationId: string, seq: number) {
    return this.#get('messages', messageKey(conversationId, seq), MessageRecord, 'message');
  }
  async listMessages(conversationId: string, opts?: { limit?: number }): Promise<MessageRecord[]> {
    const prefix = `${conversationId}${SEP}`;
    if (opts?.limit === undefined) return this.#list('messages', MessageRecord, 'message', { prefix });
    const latest = await this.#list('messages', MessageRecord, 'message', {
      prefix,
      limit: opts.limit,
      reverse: true,
    });
    return latest.reverse();
  }
  async isSeen(key: string): Promise<boolean> {
    return (await this.rawGet('seen', key)) !== undefined;
  }
  listOutbox(conversationId?: string) {
    return this.#list(
      'outbox',
      OutboxRecord,
      'outbox entry',
      conversationId === undefined ? {} : { prefix: `${conversationId}${SEP}` },
    );
  }
  getPin(userId: string) {
    return this.#get('pins', userId, PinRecord, 'pinned key');
  }
  listPins() {
    return this.#list('pins', PinRecord, 'pinned key');
  }
  async getKv(key: string): Promise<unknown> {
    const text = await this.rawGet('kv', key);
    return text === undefined ? undefined : decode(z.unknown(), text, 'kv value');
  }
  setKv(key: string, value: JsonValue): Promise<void> {
    return this.atomic((w) => w.setKv(key, value));
  }
  async getMessageById(conversationId: string, id: string): Promise<MessageRecord | undefined> {
    const ref = await this.#get('msgids', msgIdKey(conversationId, id), MsgIdRecord, 'message index');
    return ref === undefined ? undefined : this.#get('messages', ref.key, MessageRecord, 'message');
  }
  listContacts() {
    return this.#list('contacts', ContactRecord, 'contact');
  }
  getContact(userId: string) {
    return this.#get('contacts', userId, ContactRecord, 'contact');
  }
  getProfile(userId: string) {
    return this.#get('profiles', userId, ProfileRecord, 'profile');
  }
  listProfiles() {
    return this.#list('profiles', ProfileRecord, 'profile');
  }
  async getConversationState(conversationId: string): Promise<ConversationStateRecord> {
    return (
      (await this.#get('convstate', conversationId, ConversationStateRecord, 'conversation state')) ?? {
        unread: 0,
      }
    );
  }
  async getSettings(): Promise<SettingsRecord> {
    return (await this.#get('meta', 'settings', SettingsRecord, 'settings')) ?? SettingsRecord.parse({});
  }
  async isBlocked(userId: string): Promise<boolean> {
    return (await this.rawGet('blocked', userId)) !== undefined;
  }
  async listBlocked(): Promise<string[]> {
    return (await this.rawList('blocked')).map((r) => r.key);
  }
  listPending(groupId?: string) {
    return this.#list(
      'pending',
      PendingRecord,
      'held item',
      groupId === undefined ? {} : { prefix: `${groupId}${SEP}` },
    );
  }
  countPending(): Promise<number> {
    return this.rawCount('pending');
  }
  getCall(callId: string) {
    return this.#get('calls', callId, CallRecord, 'call record');
  }
  /** Keyed by callId, sorted here: a device's history is small next to its messages. */
  async listCalls(opts?: { limit?: number }): Promise<CallRecord[]> {
    const all = await this.#list('calls', CallRecord, 'call record');
    all.sort((a, b) => b.startedAt - a.startedAt || (a.callId < b.callId ? -1 : 1));
    return opts?.limit === undefined ? all : all.slice(0, opts.limit);
  }
  /** Built on the raw primitives, so every backend gets it; one transaction per collection. */
  async clear(): Promise<void> {
    for (const col of Collections) {
      for (;;) {
        const rows = await this.rawList(col, { limit: 1000 });
        if (rows.length === 0) break;
        await this.rawWrite(rows.map((r) => ({ op: 'del' as const, col, key: r.key })));
      }
    }
  }
  async atomic(fn: (w: StoreWriter) => void): Promise<void> {
    const w = new Writer();
    fn(w);
    if (w.ops.length > 0) await this.rawWrite(w.ops);
  }
}

/** Upper bound for prefix scans: sorts after every key that starts with `prefix` (keys are ASCII). */
export const prefixEnd = (prefix: string): string => `${prefix}\uffff`;
