/**
 * KolokolClient: one device of one account. It owns the device's keys and MLS group states (in the
 * Store), speaks the wire protocol (HttpApi + Connection) and turns mailbox items into stored
 * messages and events. The server only ever sees MLS ciphertext, key packages, sealed link bundles
 * and encrypted attachment blobs: never plaintext and never a private key.
 */
import {
  addMembers,
  type CommitOutput,
  certifyDevice,
  safetyNumber as computeSafetyNumber,
  createGroup,
  decodeGroup,
  encryptMessage,
  type Group,
  generateIdentity,
  generateKeyPackages,
  type IdentityDirectory,
  inspectKeyPackage,
  joinFromWelcome,
  type MlsContext,
  open,
  processMessage,
  randomBytes,
  removeMembers,
  seal,
  signLogin,
  verifyDeviceCert,
} from '@kolokol/crypto';
import {
  type EphemeralItem,
  fromB64,
  type MailboxItem,
  normalizeUsername,
  type OutgoingMessage,
  retryableCodes,
  type ServerEvent,
  type TurnResponse,
  toB64,
  USERNAME_RE,
  type UserEntry,
} from '@kolokol/protocol';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import { decryptAttachment, encryptAttachment } from './attachments.ts';
import type { BackoffOptions } from './backoff.ts';
import { pushHintOf } from './calls/machine.ts';
import { CallEvent, type CallEvents, CallManager } from './calls/manager.ts';
import {
  Connection,
  type ConnectionOptions,
  type ConnectionState,
  type OkFrame,
  type PushFrame,
} from './connection.ts';
import { ConsentEvent, type ConsentEvents, ConsentManager } from './consent/manager.ts';
import {
  type AttachmentRef,
  bodyOf,
  type ConsentEnvelope,
  decodeEnvelope,
  Emoji,
  type Envelope,
  Envelope as EnvelopeSchema,
  encodeEnvelope,
  MAX_TITLE,
  type SystemEvent,
} from './envelope.ts';
import { SdkError } from './errors.ts';
import { TypedEmitter } from './events.ts';
import { checkFranking, frankEnvelope } from './franking.ts';
import { Fronts, frontOrigin, MAX_FRONTS } from './fronts.ts';
import { forbiddenMembershipChange, isAdmin, type MembershipChange, withAdmin } from './groups.ts';
import { HttpApi } from './http.ts';
import { decodeLinkBundle, encodeLinkBundle, formatLinkCode, LINK_AAD, parseLinkCode } from './link.ts';
import {
  ClientModeration,
  ModerationEvent,
  type ModerationEvents,
  type ReportOptions,
} from './moderation.ts';
import {
  type AccountRecord,
  type ContactRecord,
  type ConversationRecord,
  type ConversationStateRecord,
  type MessageRecord,
  type MessageStatus,
  type OutboxRecord,
  type PinRecord,
  type ProfileRecord,
  type SettingsRecord,
  SettingsRecord as SettingsSchema,
  type UserRef,
} from './store/records.ts';
import { pendingKey, type Store, type StoreWriter } from './store/store.ts';
import { defaultTransport, type Transport } from './transport.ts';
import { KeyedMutex, newId, SerialQueue, sleep } from './util.ts';

export type StoredMessage = MessageRecord;
/** The stored conversation plus its UI state and, for a direct chat, whether the peer is verified. */
export type Conversation = ConversationRecord & {
  unread: number;
  lastMessage?: { text: string; at: number; from: string };
  draft?: string;
  verified?: boolean;
  muted?: boolean;
};
export type Settings = SettingsRecord;
export interface Profile {
  userId: string;
  username: string;
  displayName?: string;
  avatar?: AttachmentRef;
}
export interface Contact {
  userId: string;
  username: string;
  displayName?: string;
  verified: boolean;
  addedAt: number;
}
export type { AttachmentRef, ConnectionState, MessageStatus };

export interface DeviceInfo {
  deviceId: string;
  name?: string;
  createdAt: number;
  issuedAt: number;
  /** This device. */
  current: boolean;
  /** The certificate verifies under the account's identity key. */
  verified: boolean;
}

export interface SessionInfo {
  sessionId: string;
  deviceId: string;
  createdAt: number;
  lastSeenAt: number;
  current: boolean;
}

export const ClientEvent = {
  Message: 'message',
  Conversation: 'conversation',
  Connection: 'connection',
  KeyPackagesLow: 'keyPackagesLow',
  DeviceAdded: 'deviceAdded',
  DeviceRevoked: 'deviceRevoked',
  IdentityChanged: 'identityChanged',
  /** A pinned user's identity key changed: their verification is cleared and a notice inserted. */
  SafetyNumberChanged: 'safetyNumberChanged',
  /** A stored message changed: edit, delete, reaction, or delivery/read status. */
  MessageUpdated: 'messageUpdated',
  /** Someone started or stopped typing (ephemeral; expire it yourself after a few seconds). */
  Typing: 'typing',
  /** A user's shared profile changed (ours too). */
  Profile: 'profile',
  Error: 'error',
  /** Calls (see calls/manager.ts): CallIncoming, CallUpdated, CallEnded. */
  ...CallEvent,
  /** Consent (see consent/manager.ts): ConsentRequest, ConsentResolved, CallRequest, ConsentRules, ReportRequested. */
  ...ConsentEvent,
  /** Server notices (see moderation.ts): Notice, Suspended. */
  ...ModerationEvent,
} as const;
export type ClientEvent = (typeof ClientEvent)[keyof typeof ClientEvent];

export interface ClientEvents extends CallEvents, ConsentEvents, ModerationEvents {
  message: [StoredMessage];
  conversation: [Conversation];
  connection: [ConnectionState];
  keyPackagesLow: [{ remaining: number }];
  deviceAdded: [{ userId: string; deviceId: string }];
  deviceRevoked: [{ userId: string; deviceId: string }];
  /** The server now shows another identity key for a pinned user; the pinned key stays in force. */
  identityChanged: [{ userId: string; username: string; pinnedKey: Uint8Array; serverKey: Uint8Array }];
  safetyNumberChanged: [{ userId: string; conversationIds: string[] }];
  messageUpdated: [StoredMessage];
  typing: [{ conversationId: string; userId: string; typing: boolean }];
  profile: [Profile];
  error: [SdkError];
}

export interface ClientOptions {
  store: Store;
  transport?: Transport;
  /** Reconnect policy; tests shorten it. */
  backoff?: BackoffOptions;
  /** Keep-alive and timeouts of the WebSocket (connection.ts); tests shorten them. */
  connection?: Omit<ConnectionOptions, 'backoff'>;
  /** How long an API request may wait for its answer before its front counts as failed (http.ts). */
  httpTimeoutMs?: number;
  /** One-time key packages kept on the server (topped up below `keyPackageLow`). */
  keyPackageTarget?: number;
  keyPackageLow?: number;
}

const KP_TARGET = 60;
/** How long delivery receipts are gathered before one goes out per conversation. */
const RECEIPT_DELAY_MS = 1000;
const KP_LOW = 50;
/** Items held for a group we cannot process yet (unknown group, future epoch): per group, in all. */
const MAX_PENDING_PER_GROUP = 500;
const MAX_PENDING = 2000;
/** A held item whose group or epoch has not come within this time is dropped. */
const PENDING_TTL_MS = 24 * 60 * 60 * 1000;
const EPOCH_WAIT_MS = 30_000;
const MAX_COMMIT_ATTEMPTS = 8;

const TYPING_THROTTLE_MS = 3000;
/** Ephemeral messages between two durable sends in one epoch (receivers skip at most 200). */
const EPHEMERAL_CAP = 150;
/** How far back receipts and markRead look for messages. */
const RECEIPT_SCAN = 500;

/** The lock for read-modify-write of a conversation's messages and UI state. */
const stateLock = (conversationId: string) => `state:${conversationId}`;
const STATUS_RANK: Record<MessageStatus, number> = { sending: 0, sent: 1, delivered: 2, read: 3 };
const statusRank = (s: MessageStatus | undefined): number => (s === undefined ? 0 : STATUS_RANK[s]);

function previewOf(m: StoredMessage): string {
  if (m.deleted === true) return 'message deleted';
  switch (m.body.type) {
    case 'text':
      return m.body.text;
    case 'attachment':
      return m.body.attachment.name;
    case 'system':
      return m.body.event;
  }
}

function withLastMessage(s: ConversationStateRecord, m: StoredMessage): ConversationStateRecord {
  if (s.lastMessage !== undefined && s.lastMessage.at > m.sentAt) return s;
  return {
    ...s,
    lastMessage: { text: previewOf(m), at: m.sentAt, from: m.from.userId },
    lastMessageId: m.id,
  };
}

function profileOf(r: ProfileRecord): Profile {
  return {
    userId: r.userId,
    username: r.username,
    ...(r.displayName === undefined ? {} : { displayName: r.displayName }),
    ...(r.avatar === undefined ? {} : { avatar: r.avatar }),
  };
}

/** A change computed before a transaction: its writes, and its events once it committed. */
interface Effect {
  write(w: StoreWriter): void;
  emit(): void;
}

const Hint = z.object({
  kind: z.enum(['direct', 'group']),
  title: z.string(),
  admins: z.array(z.string()).default([]),
});
const hintKey = (groupId: string) => `conversation-hint:${groupId}`;
/** Users who sent `leave` to a group: removing them is no admin act (any member commits it). */
const leavingKey = (groupId: string) => `leaving:${groupId}`;
const Leaving = z.array(z.string()).max(1000);
const seenKey = (deviceId: string, msgId: string) => `${deviceId}:${msgId}`;
/** Set once this device's own (older, local-only) blocks were handed to the server. */
const BLOCKS_ON_SERVER = 'blocks:on-server';
/** Set while our consent rules changed here and have not been queued to our other devices. */
const CONSENT_UNSYNCED = 'consent:unsynced';
const SELF_GROUP_INFO = new TextEncoder().encode('kolokol/self-group/v1');
/** The server's other addresses as last published in /v1/info (fronts.ts). */
const FRONTS_KEY = 'fronts';
const FrontList = z.array(z.string().max(512)).max(MAX_FRONTS);

interface Internals {
  store: Store;
  transport: Transport;
  account: AccountRecord;
  options: ClientOptions;
}

type PendingEffect = () => void;

export class KolokolClient extends TypedEmitter<ClientEvents> {
  readonly userId: string;
  readonly username: string;
  readonly deviceId: string;
  readonly server: string;
  /** 1:1 calls; signalling rides this client's conversations (calls/manager.ts). */
  readonly calls: CallManager;
  /** Who may reach us, and the requests of those who may not yet (consent/manager.ts). */
  readonly consent: ConsentManager;
  /**
   * The addresses this server answers under (fronts.ts): the API, the WebSocket and TURN use the
   * current one and move to the next when it fails. Learned from /v1/info and kept in the store.
   */
  readonly fronts: Fronts;
  readonly #moderation: ClientModeration;

  readonly #store: Store;
  readonly #account: AccountRecord;
  readonly #ctx: MlsContext;
  readonly #api: HttpApi;
  readonly #conn: Connection;
  readonly #kpTarget: number;
  readonly #kpLow: number;
  /**
   * The self group: an MLS group of this account's devices only, carrying what they share
   * (consent rules). Its id is derived from the identity key, so every device of the account
   * knows it and two devices creating it at once collide on the server instead of making two.
   */
  readonly #selfGroupId: string;
  readonly #groups = new Map<string, Group>();
  readonly #locks = new KeyedMutex();
  readonly #inbound = new SerialQueue();
  /** In-memory index of the Store's held items (key -> group, heldAt), loaded on first use. */
  #pending: Map<string, { groupId: string; heldAt: number; item: MailboxItem }> | undefined;
  readonly #draining = new Set<string>();
  readonly #drainAgain = new Set<string>();
  readonly #epochWaiters = new Map<string, { epoch: number; resolve: () => void }[]>();
  readonly #sendChains = new Map<string, Promise<unknown>>();
  readonly #inflight = new Set<string>();
  readonly #tasks = new Set<Promise<void>>();
  #acks: number[] = [];
  #deliverCount = 0;
  #caughtUp = false;
  #syncWaiters: (() => void)[] = [];
  #login: Promise<string> | undefined;
  #topUp: Promise<void> | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;
  #outboxCounter = 0;
  #systemCounter = 0;
  /** Incoming message ids per conversation since the last deliver frame: delivery receipts. */
  #pendingDelivered = new Map<string, string[]>();
  #receiptTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #typing = new Map<string, { typing: boolean; at: number }>();
  readonly #ephemeralCount = new Map<string, { epoch: number; n: number }>();

  private constructor(i: Internals) {
    super();
    this.#store = i.store;
    this.#account = i.account;
    this.userId = i.account.userId;
    this.username = i.account.username;
    this.deviceId = i.account.device.deviceId;
    this.server = i.account.server;
    this.#kpTarget = i.options.keyPackageTarget ?? KP_TARGET;
    this.#kpLow = Math.min(i.options.keyPackageLow ?? KP_LOW, this.#kpTarget);
    const directory: IdentityDirectory = { trustedIdentityKey: (userId) => this.#trustedKey(userId) };
    this.#ctx = {
      userId: i.account.userId,
      device: i.account.device,
      identityKey: i.account.identity.publicKey,
      directory,
    };
    this.fronts = new Fronts(i.account.server);
    this.#api = new HttpApi(
      this.fronts,
      i.transport.fetch,
      (refresh) => this.#token(refresh),
      i.options.httpTimeoutMs === undefined ? {} : { timeoutMs: i.options.httpTimeoutMs },
    );
    this.#selfGroupId = toB64(hkdf(sha256, i.account.identity.privateKey, undefined, SELF_GROUP_INFO, 18));
    this.consent = new ConsentManager({
      userId: this.userId,
      store: this.#store,
      sendToSelf: async (e) => this.#sendToSelf(e),
      resolveConversation: (id, action) => this.#resolveRequest(id, action),
      block: (userId) => this.block(userId),
      usernameOf: (userId) => this.#usernameOf(userId),
      displayNameOf: async (userId) => (await this.#store.getProfile(userId))?.displayName,
      account: async (userId) => {
        const u = await this.#api.userById(userId);
        return { createdAt: u.createdAt, ...(u.reported === undefined ? {} : { reported: u.reported }) };
      },
      groupCreatedAt: async (groupId) => (await this.#api.group(groupId)).createdAt,
      emit: (event, ...args) =>
        this.emit<keyof ConsentEvents>(event, ...(args as ConsentEvents[keyof ConsentEvents])),
      reportError: (e) => this.emit(ClientEvent.Error, e),
    });
    this.#moderation = new ClientModeration({
      api: this.#api,
      store: this.#store,
      emit: (event, ...args) =>
        this.emit<keyof ModerationEvents>(event, ...(args as ModerationEvents[keyof ModerationEvents])),
    });
    this.calls = new CallManager({
      userId: this.userId,
      deviceId: this.deviceId,
      store: this.#store,
      sendDurable: async (id, e) => void (await this.#enqueueEnvelope(id, e)),
      sendEphemeral: (id, e) => this.#sendEphemeral(id, e),
      group: (id) => this.#group(id),
      usernameOf: (userId) => this.#usernameOf(userId),
      emitCall: (event, ...args) =>
        this.emit<keyof CallEvents>(event, ...(args as CallEvents[keyof CallEvents])),
      emitMessage: (m) => this.emit(ClientEvent.Message, m),
      reportError: (e) => this.emit(ClientEvent.Error, e),
      admitCall: (o) => this.consent.admitCall(o),
      icePolicy: (userId) => this.consent.icePolicy(userId),
      urgent: (ms) => this.#conn.urgent(ms),
    });
    this.#conn = new Connection(
      this.fronts,
      i.transport,
      {
        token: (refresh) => this.#token(refresh),
        onFrame: (f) => this.#onFrame(f),
        onState: (s) => this.emit(ClientEvent.Connection, s),
        onReady: () => this.#onReady(),
        onFatal: (e) => this.#onFatal(e),
        onProtocolError: (e) => this.emit(ClientEvent.Error, e),
      },
      {
        ...i.options.connection,
        ...(i.options.backoff === undefined ? {} : { backoff: i.options.backoff }),
      },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Account lifecycle

  static async register(o: {
    server: string;
    username: string;
    displayName?: string;
    inviteCode?: string;
    deviceName?: string;
    store: Store;
    transport?: Transport;
    backoff?: BackoffOptions;
    connection?: Omit<ConnectionOptions, 'backoff'>;
    httpTimeoutMs?: number;
  }): Promise<KolokolClient> {
    if ((await o.store.getAccount()) !== undefined) {
      throw new SdkError('ALREADY_REGISTERED', 'this store already holds an account');
    }
    const username = normalizeUsername(o.username);
    if (!USERNAME_RE.test(username)) throw new SdkError('INVALID_ARGUMENT', 'username: 3-32 of a-z 0-9 _');
    const transport = o.transport ?? defaultTransport();
    const identity = generateIdentity();
    const device = certifyDevice(identity);
    const api = new HttpApi(o.server, transport.fetch, async () => {
      throw new SdkError('UNAUTHORIZED', 'not logged in yet');
    });
    const res = await api.register({
      username,
      identityKey: toB64(identity.publicKey),
      device: {
        deviceId: device.deviceId,
        deviceKey: toB64(device.publicKey),
        issuedAt: device.issuedAt,
        cert: toB64(device.cert),
        ...(o.deviceName === undefined ? {} : { name: o.deviceName }),
      },
      ...(o.displayName === undefined ? {} : { displayName: o.displayName }),
      ...(o.inviteCode === undefined ? {} : { inviteCode: o.inviteCode }),
    });
    const account: AccountRecord = {
      userId: res.userId,
      username: res.username,
      server: o.server,
      identity,
      device,
      createdAt: Date.now(),
      ...(o.displayName === undefined ? {} : { displayName: o.displayName }),
      ...(o.deviceName === undefined ? {} : { deviceName: o.deviceName }),
    };
    await o.store.atomic((w) =>
      w.putAccount(account).putPin({
        userId: res.userId,
        username: res.username,
        identityKey: identity.publicKey,
        pinnedAt: Date.now(),
        verified: true,
      }),
    );
    const client = new KolokolClient({ store: o.store, transport, account, options: o });
    await client.#topUpKeyPackages();
    return client;
  }

  static async open(o: {
    store: Store;
    transport?: Transport;
    backoff?: BackoffOptions;
    connection?: Omit<ConnectionOptions, 'backoff'>;
    httpTimeoutMs?: number;
    keyPackageTarget?: number;
    keyPackageLow?: number;
  }): Promise<KolokolClient> {
    const account = await o.store.getAccount();
    if (account === undefined) throw new SdkError('NOT_REGISTERED', 'no account in this store');
    return new KolokolClient({
      store: o.store,
      transport: o.transport ?? defaultTransport(),
      account,
      options: o,
    });
  }

  /** Joins an existing account as a new device with a code from `createLinkCode()`; connects. */
  static async link(o: {
    server: string;
    code: string;
    store: Store;
    deviceName?: string;
    transport?: Transport;
    backoff?: BackoffOptions;
    connection?: Omit<ConnectionOptions, 'backoff'>;
    httpTimeoutMs?: number;
  }): Promise<KolokolClient> {
    if ((await o.store.getAccount()) !== undefined) {
      throw new SdkError('ALREADY_REGISTERED', 'this store already holds an account');
    }
    const transport = o.transport ?? defaultTransport();
    const { linkId, secret } = parseLinkCode(o.code);
    const api = new HttpApi(o.server, transport.fetch, async () => {
      throw new SdkError('UNAUTHORIZED', 'not logged in yet');
    });
    const link = await api.getLink(linkId);
    const opened = open(secret, fromB64(link.sealed), LINK_AAD);
    if (!opened.ok)
      throw new SdkError('DECRYPT', 'link code does not open the bundle', { cause: opened.error });
    const bundle = decodeLinkBundle(opened.value);
    if (bundle.userId !== link.userId) throw new SdkError('UNTRUSTED', 'link bundle is for another account');
    const device = certifyDevice(bundle.identity);
    await api.addDevice({
      linkId,
      device: {
        deviceId: device.deviceId,
        deviceKey: toB64(device.publicKey),
        issuedAt: device.issuedAt,
        cert: toB64(device.cert),
        ...(o.deviceName === undefined ? {} : { name: o.deviceName }),
      },
    });
    const account: AccountRecord = {
      userId: bundle.userId,
      username: bundle.username,
      server: o.server,
      identity: bundle.identity,
      device,
      createdAt: Date.now(),
      ...(bundle.displayName === undefined ? {} : { displayName: bundle.displayName }),
      ...(o.deviceName === undefined ? {} : { deviceName: o.deviceName }),
    };
    const now = Date.now();
    await o.store.atomic((w) => {
      w.putAccount(account);
      w.putPin({
        userId: bundle.userId,
        username: bundle.username,
        identityKey: bundle.identity.publicKey,
        pinnedAt: now,
        verified: true,
      });
      for (const p of bundle.pins) if (p.userId !== bundle.userId) w.putPin({ ...p, pinnedAt: now });
      for (const c of bundle.conversations)
        w.setKv(hintKey(c.id), { kind: c.kind, title: c.title, admins: c.admins ?? [] });
    });
    const client = new KolokolClient({ store: o.store, transport, account, options: o });
    await client.#topUpKeyPackages();
    await client.connect();
    return client;
  }

  /** Logs in, opens the socket and resolves at `ready`; keeps reconnecting until close(). */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new SdkError('CLOSED', 'client closed'));
    if (this.#connecting === undefined) {
      // The fronts known from an earlier run first: the primary may be the one that is blocked.
      this.#connecting = this.#loadFronts().then(() => this.#conn.start());
      // Queued sends from an earlier run of the app go out now, in order.
      this.#spawn(() => this.#resumeOutbox());
    }
    return this.#connecting;
  }

  /** Resolves once the server said `synced` and everything it pushed before is processed and stored. */
  async sync(): Promise<void> {
    await this.connect();
    await this.#conn.ping();
    await this.#inbound.idle();
    if (!this.#caughtUp) {
      await new Promise<void>((resolve) => this.#syncWaiters.push(resolve));
      await this.#inbound.idle();
    }
    // Work those items started (adding a new device, removing a leaver) is part of "processed".
    await Promise.allSettled([...this.#tasks]);
    await this.#inbound.idle();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.calls.close();
    this.#closed = true;
    clearTimeout(this.#receiptTimer);
    this.#conn.stop();
    for (const w of this.#syncWaiters) w();
    this.#syncWaiters = [];
    await Promise.allSettled([...this.#tasks]);
    await this.#inbound.idle();
    // The store belongs to the caller (it may reopen a client on it); we do not close it.
  }

  // ---------------------------------------------------------------------------------------------
  // Conversations

  /**
   * Without hidden ones (started by blocked users, declined, the self group) and without requests
   * (`consent.requests()`), most recently changed first.
   */
  async conversations(): Promise<Conversation[]> {
    const all = (await this.#store.listConversations()).filter(
      (c) => c.hidden !== true && c.request === undefined,
    );
    const views = await Promise.all(all.map((c) => this.#view(c)));
    const at = (c: Conversation) => Math.max(c.updatedAt, c.lastMessage?.at ?? 0);
    return views.sort((a, b) => at(b) - at(a));
  }

  async messages(conversationId: string, opts?: { limit?: number }): Promise<StoredMessage[]> {
    return this.#store.listMessages(conversationId, opts);
  }

  /** Sends waiting in the outbox (all, or one conversation's), oldest first. */
  async outbox(
    conversationId?: string,
  ): Promise<{ msgId: string; conversationId: string; createdAt: number; type: string }[]> {
    return (await this.#store.listOutbox(conversationId)).map((o) => {
      const env = EnvelopeSchema.safeParse(o.envelope);
      return {
        msgId: o.msgId,
        conversationId: o.conversationId,
        createdAt: o.createdAt,
        type: env.success ? env.data.type : 'invalid',
      };
    });
  }

  /**
   * Sends a conversation's queued messages again after the server refused them with
   * NOT_GROUP_MEMBER (the conversation was marked `readOnly`); clears the mark.
   */
  async retryOutbox(conversationId: string): Promise<void> {
    await this.#setReadOnly(conversationId, false);
    await this.#resumeOutbox(conversationId);
  }

  /** Deletes one queued send for good. When a read-only conversation has none left, it is writable again. */
  async discardOutbox(msgId: string): Promise<boolean> {
    const entry = (await this.#store.listOutbox()).find((o) => o.msgId === msgId);
    if (entry === undefined || this.#inflight.has(msgId)) return false;
    await this.#store.atomic((w) => w.deleteOutbox(entry));
    if ((await this.#store.listOutbox(entry.conversationId)).length === 0)
      await this.#setReadOnly(entry.conversationId, false);
    return true;
  }

  async #setReadOnly(conversationId: string, readOnly: boolean): Promise<void> {
    await this.#locks.with(stateLock(conversationId), async () => {
      const conv = await this.#store.getConversation(conversationId);
      if (conv === undefined || (conv.readOnly === true) === readOnly) return;
      const { readOnly: _r, ...rest } = conv;
      const next = readOnly ? { ...rest, readOnly: true } : rest;
      await this.#store.atomic((w) => w.putConversation(next));
      this.#emitConversation(next);
    });
  }

  /** Finds or creates the 1:1 conversation with `username` (all devices of both accounts). */
  async openDirect(username: string): Promise<Conversation> {
    const peer = await this.#lookupUser(username);
    if (peer.userId === this.userId)
      throw new SdkError('INVALID_ARGUMENT', 'cannot open a direct chat with yourself');
    const existing = (await this.#store.listConversations()).find(
      (c) =>
        c.kind === 'direct' &&
        !c.left &&
        c.peer?.userId === peer.userId &&
        c.request?.state !== 'refused' &&
        c.id !== this.#selfGroupId,
    );
    if (existing?.request !== undefined) {
      // Opening a chat with someone whose request waits is answering it.
      await this.consent.accept(existing.id);
      return this.#view((await this.#store.getConversation(existing.id)) ?? existing);
    }
    if (existing !== undefined) return this.#view(existing);
    return this.#createConversation('direct', '', [peer]);
  }

  async createGroup(title: string, usernames: string[]): Promise<Conversation> {
    const users: UserEntry[] = [];
    for (const name of usernames) {
      const u = await this.#lookupUser(name);
      if (u.userId !== this.userId && !users.some((x) => x.userId === u.userId)) users.push(u);
    }
    return this.#createConversation('group', title, users);
  }

  async addMembers(conversationId: string, usernames: string[]): Promise<void> {
    const conv = await this.#liveConversation(conversationId);
    const users = [];
    for (const name of usernames) users.push(await this.#lookupUser(name));
    // Admin is about people: anyone may add the new devices of users already in the group.
    if (users.some((u) => !conv.members.some((m) => m.userId === u.userId)))
      this.#requireAdmin(conv, 'add members');
    const changed = await this.#commitAdd(
      conversationId,
      users.map((u) => u.userId),
      true,
    );
    if (changed) await this.#sendMeta(conv.id);
  }

  async removeMember(conversationId: string, username: string): Promise<void> {
    const conv = await this.#liveConversation(conversationId);
    const user = await this.#lookupUser(username);
    if (user.userId === this.userId) {
      await this.leave(conversationId);
      return;
    }
    this.#requireAdmin(conv, 'remove members');
    await this.#commitRemoveUser(conversationId, user.userId);
  }

  /**
   * Renames a group (admins only: FORBIDDEN otherwise). The title travels in the encrypted `meta`
   * envelope; every member device applies it only if we are an admin there too. Resolves once the
   * server has it; our conversation changes then.
   */
  async renameGroup(conversationId: string, title: string): Promise<void> {
    const conv = await this.#liveConversation(conversationId);
    if (conv.kind !== 'group') throw new SdkError('INVALID_ARGUMENT', 'only groups can be renamed');
    const t = title.trim();
    if (t.length === 0 || t.length > MAX_TITLE)
      throw new SdkError('INVALID_ARGUMENT', `title: 1-${MAX_TITLE} characters`);
    this.#requireAdmin(conv, 'rename the group');
    if (t === conv.title) return;
    await this.#enqueueEnvelope(conv.id, {
      v: 1,
      type: 'meta',
      kind: conv.kind,
      title: t,
      admins: conv.admins,
    });
  }

  /**
   * Makes a member an admin or takes it back (admins only: FORBIDDEN otherwise). The last admin
   * cannot step down (INVALID_ARGUMENT); an admin who leaves simply stops counting.
   */
  async setAdmin(conversationId: string, userId: string, admin: boolean): Promise<void> {
    const conv = await this.#liveConversation(conversationId);
    if (conv.kind !== 'group') throw new SdkError('INVALID_ARGUMENT', 'direct chats have no admins');
    this.#requireAdmin(conv, 'change admins');
    if (admin && !conv.members.some((m) => m.userId === userId))
      throw new SdkError('INVALID_ARGUMENT', `${userId} is not a member`);
    const admins = withAdmin(conv, this.userId, userId, admin);
    if (admins === undefined) return;
    if (admins.length === 0) throw new SdkError('INVALID_ARGUMENT', 'a group needs at least one admin');
    await this.#enqueueEnvelope(conv.id, { v: 1, type: 'meta', kind: conv.kind, title: conv.title, admins });
  }

  #requireAdmin(conv: ConversationRecord, what: string): void {
    // A forked group takes no changes from anybody: that is the answer that matters.
    if (conv.forked !== undefined)
      throw new SdkError('FORKED', `conversation ${conv.id} forked: no more changes on its group`);
    if (!isAdmin(conv, this.userId)) throw new SdkError('FORBIDDEN', `only an admin may ${what}`);
  }

  /**
   * MLS does not let a member commit its own removal, so we tell the group we leave (an encrypted
   * `leave` envelope); the other members' devices commit the removal of all our devices. Locally
   * the conversation is marked left at once and its group state deleted.
   */
  async leave(conversationId: string): Promise<void> {
    const conv = await this.#liveConversation(conversationId);
    await this.#enqueueEnvelope(conv.id, { v: 1, type: 'leave' });
    await this.#markLeft(conv.id);
  }

  async sendText(conversationId: string, text: string, opts?: { replyTo?: string }): Promise<StoredMessage> {
    const replyTo = opts?.replyTo;
    await this.#acceptOnReply(conversationId);
    if (replyTo !== undefined && (await this.#store.getMessageById(conversationId, replyTo)) === undefined)
      throw new SdkError('NOT_FOUND_LOCAL', `no message ${replyTo} to reply to`);
    const result = await this.#enqueueEnvelope(conversationId, {
      v: 1,
      type: 'text',
      text,
      ...(replyTo === undefined ? {} : { replyTo }),
    });
    if (result === undefined) throw new SdkError('INTERNAL', 'text message stored no history entry');
    return result;
  }

  /**
   * Encrypts, uploads in chunks (progress per chunk; `signal` cancels and deletes the partial
   * upload, rejecting with ABORTED), then sends the reference. The third argument may also be a
   * bare progress callback (the older signature).
   */
  async sendAttachment(
    conversationId: string,
    file: { name: string; mime: string; bytes: Uint8Array },
    opts?:
      | ((sent: number, total: number) => void)
      | { onProgress?: (sent: number, total: number) => void; signal?: AbortSignal },
  ): Promise<StoredMessage> {
    await this.#liveConversation(conversationId);
    await this.#acceptOnReply(conversationId);
    const o = typeof opts === 'function' ? { onProgress: opts } : (opts ?? {});
    const ref = await this.#uploadEncrypted(file, o);
    if (o.signal?.aborted === true) throw new SdkError('ABORTED', 'upload cancelled');
    const result = await this.#enqueueEnvelope(conversationId, { v: 1, type: 'attachment', ...ref });
    if (result === undefined) throw new SdkError('INTERNAL', 'attachment stored no history entry');
    return result;
  }

  /** Streams the blob (progress against its size), checks its digest, decrypts. */
  async downloadAttachment(
    ref: AttachmentRef,
    opts?: { onProgress?: (received: number, total: number) => void; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    const blob = await this.#api.downloadAttachment(ref.attachmentId, {
      onProgress: opts?.onProgress,
      signal: opts?.signal,
      // nonce + ciphertext + tag, when the response has no Content-Length
      expected: ref.size + 28,
    });
    return decryptAttachment(blob, fromB64(ref.key), fromB64(ref.digest));
  }

  // ---------------------------------------------------------------------------------------------
  // Rich messages

  /** Your one reaction to a message (any author); null takes it back. */
  async react(conversationId: string, messageId: string, emoji: string | null): Promise<void> {
    if (emoji !== null && !Emoji.safeParse(emoji).success)
      throw new SdkError('INVALID_ARGUMENT', 'emoji: 1-32 characters, or null');
    const m = await this.#messageOrThrow(conversationId, messageId);
    if (m.deleted === true || m.body.type === 'system')
      throw new SdkError('INVALID_ARGUMENT', 'cannot react to this message');
    await this.#enqueueEnvelope(conversationId, { v: 1, type: 'reaction', target: messageId, emoji });
  }

  /** Only your own text messages; the others see the new text and `editedAt`. */
  async editMessage(conversationId: string, messageId: string, text: string): Promise<void> {
    const m = await this.#messageOrThrow(conversationId, messageId);
    if (m.from.userId !== this.userId)
      throw new SdkError('FORBIDDEN', 'only your own messages can be edited');
    if (m.deleted === true || m.body.type !== 'text')
      throw new SdkError('INVALID_ARGUMENT', 'only text messages that are not deleted can be edited');
    await this.#enqueueEnvelope(conversationId, { v: 1, type: 'edit', target: messageId, text });
  }

  /** Only your own messages; everyone (your other devices too) keeps a "message deleted" tombstone. */
  async deleteForEveryone(conversationId: string, messageId: string): Promise<void> {
    const m = await this.#messageOrThrow(conversationId, messageId);
    if (m.from.userId !== this.userId)
      throw new SdkError('FORBIDDEN', 'only your own messages can be deleted');
    if (m.deleted === true) return;
    if (m.body.type === 'system') throw new SdkError('INVALID_ARGUMENT', 'system notices are local');
    await this.#enqueueEnvelope(conversationId, { v: 1, type: 'delete', target: messageId });
  }

  /**
   * Unread to 0; with readReceipts on, a read receipt for the newest incoming message is queued
   * (sent in the background, durably: it goes out when the connection is back).
   */
  async markRead(conversationId: string): Promise<void> {
    const conv = await this.#liveConversationOrAny(conversationId);
    const settings = await this.#store.getSettings();
    let receiptFor: string | undefined;
    await this.#locks.with(stateLock(conv.id), async () => {
      const state = await this.#store.getConversationState(conv.id);
      const recent = await this.#store.listMessages(conv.id, { limit: RECEIPT_SCAN });
      const newest = recent.findLast((m) => !m.outgoing && m.body.type !== 'system');
      if (
        settings.readReceipts &&
        newest !== undefined &&
        newest.id !== state.readReceiptFor &&
        !conv.left &&
        conv.request === undefined
      )
        receiptFor = newest.id;
      await this.#store.atomic((w) =>
        w.putConversationState(conv.id, {
          ...state,
          unread: 0,
          ...(receiptFor === undefined ? {} : { readReceiptFor: receiptFor }),
        }),
      );
    });
    this.#emitConversation(conv);
    const id = receiptFor;
    if (id !== undefined)
      this.#spawn(async () => {
        await this.#enqueueEnvelope(conv.id, { v: 1, type: 'receipt', kind: 'read', ids: [id] });
      });
  }

  /**
   * Ephemeral (only devices online now see it), throttled: `true` at most every 3 s while typing,
   * `false` only after a `true`. Receivers should expire an indicator after ~6 s without news.
   */
  async setTyping(conversationId: string, typing: boolean): Promise<void> {
    if (!(await this.#store.getSettings()).typingIndicators) return;
    const last = this.#typing.get(conversationId);
    const now = Date.now();
    if (typing && last?.typing === true && now - last.at < TYPING_THROTTLE_MS) return;
    if (!typing && last?.typing !== true) return;
    this.#typing.set(conversationId, { typing, at: now });
    await this.#sendEphemeral(conversationId, { v: 1, type: 'typing', typing });
  }

  async setDraft(conversationId: string, text: string): Promise<void> {
    await this.#updateState(conversationId, (s) => {
      const { draft: _d, ...rest } = s;
      return text === '' ? rest : { ...rest, draft: text };
    });
  }

  /** Local: the app decides what muted means (no notification). */
  async setMuted(conversationId: string, muted: boolean): Promise<void> {
    await this.#updateState(conversationId, (s) => ({ ...s, muted }));
  }

  // ---------------------------------------------------------------------------------------------
  // Profiles, contacts, blocking, settings

  /**
   * Changes the profile shared end-to-end: stored here, then sent as a `profile` envelope to every
   * conversation (in the background; new conversations get it when they are created or joined).
   * `avatar: null` removes it; the avatar travels as an encrypted attachment.
   */
  async setProfile(p: {
    displayName?: string;
    avatar?: { mime: string; bytes: Uint8Array } | null;
  }): Promise<void> {
    const current = await this.myProfile();
    let displayName = p.displayName === undefined ? current.displayName : p.displayName.trim();
    if (displayName === '') displayName = undefined;
    if (displayName !== undefined && displayName.length > 64)
      throw new SdkError('INVALID_ARGUMENT', 'displayName: at most 64 characters');
    let avatar = current.avatar;
    if (p.avatar === null) avatar = undefined;
    else if (p.avatar !== undefined) {
      avatar = await this.#uploadEncrypted(
        { name: 'avatar', mime: p.avatar.mime, bytes: p.avatar.bytes },
        {},
      );
    }
    const record: ProfileRecord = {
      userId: this.userId,
      username: this.username,
      updatedAt: Math.max(Date.now(), ((await this.#store.getProfile(this.userId))?.updatedAt ?? 0) + 1),
      ...(displayName === undefined ? {} : { displayName }),
      ...(avatar === undefined ? {} : { avatar }),
    };
    await this.#store.atomic((w) => w.putProfile(record));
    this.emit(ClientEvent.Profile, profileOf(record));
    for (const c of await this.#store.listConversations()) {
      if (!c.left && c.hidden !== true && c.request === undefined)
        this.#spawn(() => this.#shareProfile(c.id, true));
    }
  }

  async profile(userId: string): Promise<Profile | undefined> {
    if (userId === this.userId) return this.myProfile();
    const rec = await this.#store.getProfile(userId);
    if (rec !== undefined) return profileOf(rec);
    const pin = await this.#store.getPin(userId);
    return pin === undefined ? undefined : { userId, username: pin.username };
  }

  async myProfile(): Promise<Profile> {
    const rec = await this.#store.getProfile(this.userId);
    if (rec !== undefined) return profileOf(rec);
    return {
      userId: this.userId,
      username: this.username,
      ...(this.#account.displayName === undefined ? {} : { displayName: this.#account.displayName }),
    };
  }

  async contacts(): Promise<Contact[]> {
    const out: Contact[] = [];
    for (const c of await this.#store.listContacts()) out.push(await this.#contactView(c));
    return out.sort((a, b) => (a.displayName ?? a.username).localeCompare(b.displayName ?? b.username));
  }

  /** Looks the user up (pinning their key on first sight) and keeps them as a contact. */
  async addContact(username: string): Promise<Contact> {
    const user = await this.#lookupUser(username);
    if (user.userId === this.userId) throw new SdkError('INVALID_ARGUMENT', 'you cannot add yourself');
    const rec: ContactRecord = (await this.#store.getContact(user.userId)) ?? {
      userId: user.userId,
      username: user.username,
      addedAt: Date.now(),
    };
    await this.#store.atomic((w) => w.putContact(rec));
    return this.#contactView(rec);
  }

  async removeContact(userId: string): Promise<void> {
    await this.#store.atomic((w) => w.deleteContact(userId));
  }

  /**
   * Blocks an account at the server, which from then on leaves all our devices out of its
   * messages, calls and group welcomes (the account is not told); this device also drops what
   * got through before (reactions, typing, conversations it started). Our other devices take the
   * server's list at their next connect.
   */
  async block(userId: string): Promise<void> {
    if (userId === this.userId) throw new SdkError('INVALID_ARGUMENT', 'you cannot block yourself');
    await this.#api.block(userId);
    await this.#store.atomic((w) => w.setBlocked(userId, true));
  }

  async unblock(userId: string): Promise<void> {
    await this.#api.unblock(userId);
    await this.#store.atomic((w) => w.setBlocked(userId, false));
  }

  blocked(): Promise<string[]> {
    return this.#store.listBlocked();
  }

  /** Exact username lookup; undefined when there is no such user. Pins nothing. */
  async searchUser(username: string): Promise<{ userId: string; username: string } | undefined> {
    const name = normalizeUsername(username);
    if (!USERNAME_RE.test(name)) return undefined;
    try {
      const e = await this.#api.userByName(name);
      return { userId: e.userId, username: e.username };
    } catch (e) {
      if (e instanceof SdkError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  settings(): Promise<Settings> {
    return this.#store.getSettings();
  }

  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    const next = SettingsSchema.safeParse({ ...(await this.#store.getSettings()), ...patch });
    if (!next.success) throw new SdkError('INVALID_ARGUMENT', `settings: ${next.error.message}`);
    await this.#store.atomic((w) => w.putSettings(next.data));
    return next.data;
  }

  // ---------------------------------------------------------------------------------------------
  // Safety numbers, account, push

  /**
   * After comparing safety numbers (or scanning the QR). Verifying a user whose key changed
   * (`SafetyNumberChanged`) accepts the new key: the number compared is the new one.
   */
  async markVerified(userId: string, verified: boolean): Promise<void> {
    const pin = await this.#store.getPin(userId);
    if (pin === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no pinned key for ${userId}`);
    const { pendingKey, ...rest } = pin;
    const next: PinRecord =
      verified && pendingKey !== undefined
        ? { ...rest, identityKey: pendingKey, pinnedAt: Date.now(), verified: true }
        : { ...pin, verified };
    await this.#store.atomic((w) => w.putPin(next));
    for (const c of await this.#store.listConversations()) {
      if (c.kind === 'direct' && c.peer?.userId === userId) this.#emitConversation(c);
    }
  }

  /** Compares a scanned QR payload with ours for this user; marks them verified when equal. */
  async verifySafetyQr(userId: string, scanned: Uint8Array): Promise<boolean> {
    const pin = await this.#store.getPin(userId);
    if (pin === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no pinned key for ${userId}`);
    const { qr } = computeSafetyNumber(
      { userId: this.userId, identityKey: this.#account.identity.publicKey },
      { userId: pin.userId, identityKey: pin.pendingKey ?? pin.identityKey },
    );
    if (!sameBytes(qr, scanned)) return false;
    await this.markVerified(userId, true);
    return true;
  }

  /**
   * Deletes the account on the server (devices, sessions, key packages, mailboxes, group
   * memberships; the username is reserved for a quarantine period, then free), closes the client
   * and wipes the local store.
   */
  async deleteAccount(): Promise<void> {
    await this.#api.deleteAccount();
    await this.close();
    await this.#store.clear();
  }

  /**
   * Revokes this device (and so its sessions) and wipes the local store. The device's keys are
   * gone with the store, so it is revoked rather than merely logged out: nobody can use it again,
   * and the account's other devices remove it from every group.
   */
  async logout(): Promise<void> {
    await this.#api.revokeDevice(this.deviceId);
    await this.close();
    await this.#store.clear();
  }

  /** TURN/STUN servers and short-lived credentials for calls (GET /v1/turn, `{ iceServers, ttl }`). */
  async turnServers(): Promise<TurnResponse> {
    return this.#api.turn();
  }

  /** The server's VAPID public key (base64url) for PushManager.subscribe; undefined if push is off. */
  async pushPublicKey(): Promise<string | undefined> {
    try {
      return (await this.#api.vapid()).publicKey;
    } catch (e) {
      if (e instanceof SdkError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /** Stores this device's push subscription; pushes carry no content, only a wake-up. */
  async registerPush(subscription: {
    endpoint: string;
    keys: { p256dh: string; auth: string };
  }): Promise<void> {
    await this.#api.putPushSubscription(subscription);
  }

  async unregisterPush(): Promise<void> {
    await this.#api.deletePushSubscription();
  }

  /**
   * Reports messages of one account to the server's operator with their franking (franking.ts),
   * which lets the server check that the account really sent them; their plaintext goes to the
   * operator. Messages that arrived without valid franking cannot be reported (INVALID_ARGUMENT).
   */
  report(o: ReportOptions): Promise<{ reportId: string; reportedUserId: string }> {
    return this.#moderation.report(o);
  }

  /** Appeals this account's suspension (works while suspended, with the session it holds). */
  appeal(text: string): Promise<{ appealId: string }> {
    return this.#moderation.appeal(text);
  }

  /**
   * Fetches the operator's notices this device has not surfaced yet (they arrive as Notice and
   * Suspended events). Works while suspended: an app polls it then to learn of the lifting, after
   * which it calls `connect()` again (the connection stops for good on SUSPENDED).
   */
  checkNotices(): Promise<void> {
    return this.#moderation.fetchNotices();
  }

  /** Connects again after the operator lifted a suspension (a Notice of kind 'lifted'). */
  resumeAfterSuspension(): Promise<void> {
    if (this.#closed) return Promise.reject(new SdkError('CLOSED', 'client closed'));
    this.#connecting = this.#conn.resume();
    this.#spawn(() => this.#resumeOutbox());
    return this.#connecting;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers of the features above

  async #messageOrThrow(conversationId: string, messageId: string): Promise<StoredMessage> {
    await this.#liveConversation(conversationId);
    const m = await this.#store.getMessageById(conversationId, messageId);
    if (m === undefined)
      throw new SdkError('NOT_FOUND_LOCAL', `no message ${messageId} in ${conversationId}`);
    return m;
  }

  async #liveConversationOrAny(id: string): Promise<ConversationRecord> {
    const conv = await this.#store.getConversation(id);
    if (conv === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no conversation ${id}`);
    return conv;
  }

  async #updateState(
    conversationId: string,
    fn: (s: ConversationStateRecord) => ConversationStateRecord,
  ): Promise<void> {
    const conv = await this.#liveConversationOrAny(conversationId);
    await this.#locks.with(stateLock(conversationId), async () => {
      const next = fn(await this.#store.getConversationState(conversationId));
      await this.#store.atomic((w) => w.putConversationState(conversationId, next));
    });
    this.#emitConversation(conv);
  }

  async #contactView(c: ContactRecord): Promise<Contact> {
    const profile = await this.#store.getProfile(c.userId);
    const pin = await this.#store.getPin(c.userId);
    return {
      userId: c.userId,
      username: c.username,
      verified: pin?.verified === true,
      addedAt: c.addedAt,
      ...(profile?.displayName === undefined ? {} : { displayName: profile.displayName }),
    };
  }

  /** A conversation record with its UI state and (direct chats) the peer's verification. */
  async #view(rec: ConversationRecord): Promise<Conversation> {
    const s = await this.#store.getConversationState(rec.id);
    const peer = rec.kind === 'direct' ? rec.peer : undefined;
    const pin = peer === undefined ? undefined : await this.#store.getPin(peer.userId);
    return {
      ...rec,
      unread: s.unread,
      ...(s.lastMessage === undefined ? {} : { lastMessage: s.lastMessage }),
      ...(s.draft === undefined ? {} : { draft: s.draft }),
      ...(s.muted === undefined ? {} : { muted: s.muted }),
      ...(pin === undefined ? {} : { verified: pin.verified }),
    };
  }

  #emitConversation(rec: ConversationRecord): void {
    // Hidden ones and requests are not the app's to show (requests come as ConsentRequest).
    if (rec.hidden === true || rec.request !== undefined) return;
    this.#view(rec).then(
      (v) => this.emit(ClientEvent.Conversation, v),
      (e: unknown) => this.emit(ClientEvent.Error, SdkError.from(e, 'STORE')),
    );
  }

  /** Sends our profile to a conversation (skipped when we never set one, unless `always`). */
  async #shareProfile(conversationId: string, always = false): Promise<void> {
    const rec = await this.#store.getProfile(this.userId);
    if (rec === undefined && !always) return;
    const p = rec ?? { updatedAt: 0 };
    const conv = await this.#store.getConversation(conversationId);
    // Nothing about us goes to a stranger before the user accepted them.
    if (conv === undefined || conv.left || conv.hidden === true || conv.request !== undefined) return;
    await this.#enqueueEnvelope(conversationId, {
      v: 1,
      type: 'profile',
      updatedAt: p.updatedAt,
      ...('displayName' in p && p.displayName !== undefined ? { displayName: p.displayName } : {}),
      ...('avatar' in p && p.avatar !== undefined ? { avatar: p.avatar } : { avatar: null }),
    });
  }

  /** Encrypts and uploads a file in chunks (real progress, cancellable); returns its reference. */
  async #uploadEncrypted(
    file: { name: string; mime: string; bytes: Uint8Array },
    o: { onProgress?: ((sent: number, total: number) => void) | undefined; signal?: AbortSignal | undefined },
  ): Promise<AttachmentRef> {
    const enc = encryptAttachment(file.bytes);
    const total = enc.blob.length;
    const aborted = () => new SdkError('ABORTED', 'upload cancelled');
    // A function, not a property test: the signal changes under our awaits.
    const isAborted = () => o.signal?.aborted === true;
    if (isAborted()) throw aborted();
    const up = await this.#api.createUpload(total);
    o.onProgress?.(0, total);
    try {
      let offset = 0;
      while (offset < total) {
        if (isAborted()) throw aborted();
        const end = Math.min(offset + up.chunkSize, total);
        const r = await this.#api.uploadChunk(up.uploadId, offset, enc.blob.subarray(offset, end), o.signal);
        offset = r.received;
        o.onProgress?.(offset, total);
      }
      if (isAborted()) throw aborted();
      await this.#api.completeUpload(up.uploadId);
    } catch (e) {
      // Whatever stopped us, leave nothing behind on the server (best effort: it expires anyway).
      await this.#api.cancelUpload(up.uploadId).catch(() => {});
      throw e;
    }
    return {
      attachmentId: up.attachmentId,
      key: toB64(enc.key),
      digest: toB64(enc.digest),
      size: file.bytes.length,
      name: file.name,
      mime: file.mime,
    };
  }

  /**
   * Typing indicators and other ephemeral envelopes: encrypted like any application message (the
   * advanced ratchet is stored first), sent once, never queued: offline means not sent.
   *
   * Every ephemeral message uses up one generation of our MLS sender ratchet, and a device that
   * misses them (offline) must skip over them to decrypt our next durable message; ts-mls skips at
   * most 200. So at most EPHEMERAL_CAP of them go out between two durable sends in one epoch.
   */
  async #sendEphemeral(conversationId: string, envelope: Envelope): Promise<void> {
    if (!this.#conn.online) return;
    const groupId = conversationId;
    let msg: OutgoingMessage | undefined;
    await this.#locks.with(groupId, async () => {
      const group = await this.#group(groupId);
      if (group === undefined) return;
      if ((await this.#store.getConversation(groupId))?.forked !== undefined) return;
      const count = this.#ephemeralCount.get(groupId);
      const n = count !== undefined && count.epoch === group.epoch ? count.n : 0;
      if (n >= EPHEMERAL_CAP) return;
      const r = await encryptMessage(this.#ctx, group, encodeEnvelope(envelope));
      if (!r.ok) throw new SdkError('CRYPTO', r.error.message, { cause: r.error });
      let effect: PendingEffect = () => {};
      await this.#store.atomic((w) => {
        effect = this.#putGroup(w, r.value.group);
      });
      effect();
      this.#ephemeralCount.set(groupId, { epoch: group.epoch, n: n + 1 });
      msg = {
        msgId: newId(),
        groupId,
        kind: 'application',
        epoch: group.epoch,
        body: toB64(r.value.message),
        ephemeral: true,
      };
    });
    if (msg === undefined) return;
    try {
      await this.#conn.send(msg);
    } catch {
      // Ephemeral: a lost typing indicator is not worth a retry.
    }
  }

  /** An ephemeral item (typing): decrypted like any message, never acknowledged or stored. */
  async #processEphemeral(item: EphemeralItem): Promise<void> {
    let env: Envelope | undefined;
    let from: { userId: string; deviceId: string } | undefined;
    let body: Uint8Array;
    try {
      body = fromB64(item.body);
    } catch {
      return;
    }
    await this.#locks.with(item.groupId, async () => {
      const group = await this.#group(item.groupId);
      // Not worth buffering: a typing indicator from another epoch is stale or premature.
      if (group === undefined || group.epoch !== item.epoch) return;
      const r = await processMessage(this.#ctx, group, body);
      if (!r.ok || r.value.kind !== 'application') return;
      const next = r.value.group;
      let effect: PendingEffect = () => {};
      await this.#store.atomic((w) => {
        effect = this.#putGroup(w, next);
      });
      effect();
      if (r.value.sender.userId !== item.sender.userId) return;
      from = { userId: r.value.sender.userId, deviceId: r.value.sender.deviceId };
      const decoded = decodeEnvelope(r.value.plaintext);
      if (decoded.ok) env = decoded.envelope;
    });
    if (env?.type === 'call' && from !== undefined) {
      if (!(await this.#store.isBlocked(from.userId)))
        this.calls.onSignal(item.groupId, from, env, Date.now());
      return;
    }
    if (env?.type !== 'typing' || item.sender.userId === this.userId) return;
    if (await this.#store.isBlocked(item.sender.userId)) return;
    if ((await this.#store.getConversation(item.groupId))?.request !== undefined) return;
    if (!(await this.#store.getSettings()).typingIndicators) return;
    this.emit(ClientEvent.Typing, {
      conversationId: item.groupId,
      userId: item.sender.userId,
      typing: env.typing,
    });
  }

  /**
   * Delivery receipts are MLS messages that every other member device must decrypt too, so one
   * per deliver frame multiplied the traffic of a busy group several times over. They are batched
   * per conversation for RECEIPT_DELAY_MS instead; a client closed within that window does not
   * send them (the ticks are a courtesy, not part of delivery).
   */
  #scheduleDeliveryReceipts(): void {
    if (this.#receiptTimer !== undefined || this.#pendingDelivered.size === 0) return;
    this.#receiptTimer = setTimeout(() => {
      this.#receiptTimer = undefined;
      if (!this.#closed) this.#flushDeliveryReceipts();
    }, RECEIPT_DELAY_MS);
  }

  /** One delivery receipt per conversation for what arrived since the last one. */
  #flushDeliveryReceipts(): void {
    const pending = this.#pendingDelivered;
    if (pending.size === 0) return;
    this.#pendingDelivered = new Map();
    for (const [conversationId, ids] of pending) {
      for (let i = 0; i < ids.length; i += 500) {
        const part = ids.slice(i, i + 500);
        this.#spawn(async () => {
          const conv = await this.#store.getConversation(conversationId);
          if (conv === undefined || conv.left) return;
          await this.#enqueueEnvelope(conversationId, {
            v: 1,
            type: 'receipt',
            kind: 'delivered',
            ids: part,
          });
        });
      }
    }
  }

  /** A local notice in every conversation `userId` is in (safety number changed, account deleted). */
  async #insertSystem(event: SystemEvent, userId: string): Promise<string[]> {
    const ids: string[] = [];
    for (const c of await this.#store.listConversations()) {
      if (c.hidden === true || c.request !== undefined || !c.members.some((m) => m.userId === userId))
        continue;
      const message = await this.#locks.with(stateLock(c.id), async () => {
        const conv = (await this.#store.getConversation(c.id)) ?? c;
        const now = Date.now();
        const m: StoredMessage = {
          id: newId(),
          conversationId: c.id,
          seq: conv.lastSeq,
          local: now * 1000 + (++this.#systemCounter % 1000),
          from: { userId, username: await this.#usernameOf(userId), deviceId: '' },
          sentAt: now,
          receivedAt: now,
          body: { type: 'system', event, userId },
          outgoing: false,
          reactions: {},
        };
        await this.#store.atomic((w) => w.putMessage(m));
        return m;
      });
      ids.push(c.id);
      this.emit(ClientEvent.Message, message);
    }
    return ids;
  }

  // ---------------------------------------------------------------------------------------------
  // Consent: the self group and requests (the rules and their API are in consent/)

  /** Writing in a request (text, attachment) answers it: accepted. */
  async #acceptOnReply(conversationId: string): Promise<void> {
    const conv = await this.#store.getConversation(conversationId);
    if (conv?.request !== undefined && conv.request.state !== 'refused')
      await this.consent.accept(conversationId);
  }

  /** What the rules decided at a pending conversation's first meta, on the MLS side (stored already). */
  #afterDecision(groupId: string, d: 'allow' | 'request' | 'leave' | 'drop' | 'keep'): void {
    switch (d) {
      case 'allow':
        this.#spawn(() => this.#shareProfile(groupId));
        return;
      case 'request':
        this.consent.announce(groupId);
        return;
      case 'leave':
        this.#spawn(() => this.leave(groupId));
        return;
      case 'drop':
        this.#spawn(() => this.#markLeft(groupId));
        return;
      case 'keep':
        return;
    }
  }

  /**
   * Accept shows the conversation and what it holds, shares our profile and brings in our devices
   * that are not in it yet. Decline hides it: a 1:1 one is dropped without a word to its sender, a
   * group is left (its members see that). False when there was no such request here.
   */
  async #resolveRequest(conversationId: string, action: 'accept' | 'decline'): Promise<boolean> {
    const r = await this.#locks.with(stateLock(conversationId), async () => {
      const conv = await this.#store.getConversation(conversationId);
      if (conv?.request === undefined || conv.left) return undefined;
      const { request: _r, hidden: _h, ...rest } = conv;
      const next: ConversationRecord =
        action === 'accept'
          ? { ...rest, updatedAt: Date.now() }
          : { ...conv, hidden: true, request: { ...conv.request, state: 'refused' } };
      await this.#store.atomic((w) => w.putConversation(next));
      return { before: conv, next };
    });
    if (r === undefined) return false;
    if (action === 'accept') {
      this.#emitConversation(r.next);
      this.#spawn(() => this.#shareProfile(conversationId));
      this.#spawn(async () => {
        if (await this.#commitAdd(conversationId, [this.userId], false)) await this.#sendMeta(conversationId);
      });
    } else if (r.before.kind === 'group' || new Set(r.before.members.map((m) => m.userId)).size > 2) {
      this.#spawn(() => this.leave(conversationId));
    } else {
      this.#spawn(() => this.#markLeft(conversationId));
    }
    return true;
  }

  /**
   * Queues a consent envelope to our other devices (in the background: the rules are already in
   * force here). Until the self group exists on this device, rules wait under CONSENT_UNSYNCED.
   */
  async #sendToSelf(env: ConsentEnvelope): Promise<void> {
    if (env.rules !== undefined) await this.#store.setKv(CONSENT_UNSYNCED, true);
    this.#spawn(async () => {
      if ((await this.#group(this.#selfGroupId)) === undefined) return;
      await this.#enqueueEnvelope(this.#selfGroupId, env);
      if (env.rules !== undefined && (await this.consent.rules()).updatedAt <= env.rules.updatedAt)
        await this.#store.atomic((w) => w.deleteKv(CONSENT_UNSYNCED));
    });
  }

  async #sendConsentSnapshot(): Promise<void> {
    const env = await this.consent.snapshot();
    if (env !== undefined) await this.#enqueueEnvelope(this.#selfGroupId, env);
  }

  async #flushUnsyncedConsent(): Promise<void> {
    if ((await this.#store.getKv(CONSENT_UNSYNCED)) !== true) return;
    if ((await this.#group(this.#selfGroupId)) === undefined) return;
    await this.#sendConsentSnapshot();
    await this.#store.atomic((w) => w.deleteKv(CONSENT_UNSYNCED));
  }

  /**
   * Once caught up on each connection: makes the self group when no device of ours has (the
   * server refuses a second one with GROUP_EXISTS: then a device of ours that is in it adds this
   * one, like any group), and sends rules changed while it could not.
   */
  async #setUpSelfGroup(): Promise<void> {
    if (!this.#caughtUp) await new Promise<void>((resolve) => this.#syncWaiters.push(resolve));
    if (this.#closed) return;
    const id = this.#selfGroupId;
    if ((await this.#group(id)) === undefined) {
      try {
        await this.#api.createGroup(id);
      } catch (e) {
        if (SdkError.from(e).code === 'GROUP_EXISTS') return;
        throw e;
      }
      const group = await createGroup(this.#ctx, id);
      const now = Date.now();
      const conv: ConversationRecord = {
        id,
        kind: 'group',
        title: '',
        members: [{ userId: this.userId, username: this.username }],
        admins: [],
        createdAt: now,
        updatedAt: now,
        left: false,
        lastSeq: 0,
        hidden: true,
      };
      let effect: PendingEffect = () => {};
      await this.#store.atomic((w) => {
        effect = this.#putGroup(w, group);
        w.putConversation(conv);
      });
      effect();
      await this.#commitAdd(id, [this.userId], false);
    }
    await this.#flushUnsyncedConsent();
  }

  // ---------------------------------------------------------------------------------------------
  // Devices, sessions, trust

  /**
   * A one-time code that lets a new device join this account: `${linkId}.${secret}`. The sealed
   * bundle (identity key pair, pinned keys, conversation titles) is stored on the server; the
   * secret that opens it exists only in the code.
   */
  async createLinkCode(): Promise<string> {
    const secret = randomBytes(32);
    const pins = await this.#store.listPins();
    const convs = await this.#store.listConversations();
    const bundle = encodeLinkBundle({
      v: 1,
      userId: this.userId,
      username: this.username,
      ...(this.#account.displayName === undefined ? {} : { displayName: this.#account.displayName }),
      identity: this.#account.identity,
      pins: pins.map((p) => ({
        userId: p.userId,
        username: p.username,
        identityKey: p.identityKey,
        verified: p.verified,
      })),
      conversations: convs
        // A request is decided by each device under the (shared) rules, not taken on a hint.
        .filter((c) => !c.left && c.request === undefined)
        .map((c) => ({ id: c.id, kind: c.kind, title: c.title, admins: c.admins })),
    });
    const res = await this.#api.createLink(toB64(seal(secret, bundle, LINK_AAD)));
    return formatLinkCode(res.linkId, secret);
  }

  async devices(): Promise<DeviceInfo[]> {
    const res = await this.#api.devices();
    return res.devices.map((d) => ({
      deviceId: d.deviceId,
      createdAt: d.createdAt,
      issuedAt: d.issuedAt,
      current: d.deviceId === this.deviceId,
      verified: verifyDeviceCert(
        this.#account.identity.publicKey,
        d.deviceId,
        fromB64(d.deviceKey),
        d.issuedAt,
        fromB64(d.cert),
      ),
      ...(d.name === undefined ? {} : { name: d.name }),
    }));
  }

  /** Revokes a device of this account on the server and removes it from every group. */
  async revokeDevice(deviceId: string): Promise<void> {
    await this.#api.revokeDevice(deviceId);
    if (deviceId === this.deviceId) return;
    await this.#removeDeviceEverywhere(deviceId);
  }

  async sessions(): Promise<SessionInfo[]> {
    return (await this.#api.sessions()).sessions;
  }

  async revokeSession(sessionId: string): Promise<void> {
    await this.#api.revokeSession(sessionId);
  }

  /** The 60-digit number (and QR payload) to compare with `username` over another channel. */
  /**
   * The 60-digit number (and QR payload) to compare with `username` over another channel. After a
   * key change it is computed over the new key (the one markVerified would accept).
   */
  async safetyNumber(username: string): Promise<{ digits: string; qr: Uint8Array }> {
    const entry = await this.#api.userByName(normalizeUsername(username));
    if (entry.userId !== this.userId) {
      try {
        await this.#pin(entry);
      } catch (e) {
        if (!(e instanceof SdkError && e.code === 'UNTRUSTED')) throw e;
      }
    }
    const pin = await this.#store.getPin(entry.userId);
    if (pin === undefined) throw new SdkError('UNTRUSTED', `no pinned key for ${username}`);
    return computeSafetyNumber(
      { userId: this.userId, identityKey: this.#account.identity.publicKey },
      { userId: pin.userId, identityKey: pin.pendingKey ?? pin.identityKey },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Login and key packages

  #token(refresh: boolean): Promise<string> {
    if (this.#login !== undefined) return this.#login;
    this.#login = (async () => {
      try {
        if (!refresh) {
          const s = await this.#store.getSession();
          if (s !== undefined && s.expiresAt > Date.now() + 60_000) return s.token;
        }
        const device = this.#account.device;
        const ch = await this.#api.challenge(device.deviceId);
        const signature = signLogin(device, fromB64(ch.challenge));
        const res = await this.#api.login({
          deviceId: device.deviceId,
          challenge: ch.challenge,
          signature: toB64(signature),
        });
        await this.#store.atomic((w) =>
          w.putSession({ token: res.token, sessionId: res.sessionId, expiresAt: res.expiresAt }),
        );
        return res.token;
      } finally {
        this.#login = undefined;
      }
    })();
    return this.#login;
  }

  /** Keeps >= keyPackageLow one-time packages and one last-resort package on the server. */
  #topUpKeyPackages(): Promise<void> {
    if (this.#topUp !== undefined) return this.#topUp;
    this.#topUp = (async () => {
      try {
        const count = await this.#api.keyPackageCount();
        const need = count.oneTime < this.#kpLow ? this.#kpTarget - count.oneTime : 0;
        const oneTime = need > 0 ? await generateKeyPackages(this.#ctx, need) : [];
        const lastResort = count.lastResort
          ? []
          : await generateKeyPackages(this.#ctx, 1, { lastResort: true });
        const all = [...oneTime, ...lastResort];
        if (all.length === 0) return;
        // Private halves first: a welcome may name a package the moment the server has it.
        const now = Date.now();
        await this.#store.atomic((w) => {
          for (const b of all) w.putKeyPackage({ ...b, createdAt: now });
        });
        const lr = lastResort[0];
        for (let i = 0; i < Math.max(oneTime.length, 1); i += 100) {
          const chunk = oneTime.slice(i, i + 100).map((b) => toB64(b.publicBytes));
          const withLr = i === 0 && lr !== undefined;
          if (chunk.length === 0 && !withLr) break;
          await this.#api.uploadKeyPackages({
            keyPackages: chunk,
            ...(withLr ? { lastResort: toB64(lr.publicBytes) } : {}),
          });
        }
      } finally {
        this.#topUp = undefined;
      }
    })();
    return this.#topUp;
  }

  // ---------------------------------------------------------------------------------------------
  // Trust on first use

  async #trustedKey(userId: string): Promise<Uint8Array | undefined> {
    if (userId === this.userId) return this.#account.identity.publicKey;
    const pin = await this.#store.getPin(userId);
    if (pin !== undefined) return pin.identityKey;
    try {
      const entry = await this.#api.userById(userId);
      if (entry.userId !== userId) return undefined;
      return (await this.#pin(entry)).identityKey;
    } catch (e) {
      this.emit(ClientEvent.Error, SdkError.from(e, 'UNTRUSTED'));
      return undefined;
    }
  }

  /** Pins the user's identity key on first sight; a different key later is refused and reported. */
  async #pin(entry: UserEntry): Promise<{ identityKey: Uint8Array }> {
    const serverKey = fromB64(entry.identityKey);
    const pin = await this.#store.getPin(entry.userId);
    if (pin === undefined) {
      await this.#store.atomic((w) =>
        w.putPin({
          userId: entry.userId,
          username: entry.username,
          identityKey: serverKey,
          pinnedAt: Date.now(),
          verified: false,
        }),
      );
      return { identityKey: serverKey };
    }
    if (!sameBytes(pin.identityKey, serverKey)) {
      if (pin.pendingKey === undefined || !sameBytes(pin.pendingKey, serverKey)) {
        // New news: clear the verification, keep the key for markVerified, tell every conversation.
        await this.#store.atomic((w) => w.putPin({ ...pin, verified: false, pendingKey: serverKey }));
        const conversationIds = await this.#insertSystem('safety-number-changed', entry.userId);
        this.emit(ClientEvent.SafetyNumberChanged, { userId: entry.userId, conversationIds });
        for (const c of await this.#store.listConversations())
          if (conversationIds.includes(c.id)) this.#emitConversation(c);
      }
      this.emit(ClientEvent.IdentityChanged, {
        userId: entry.userId,
        username: entry.username,
        pinnedKey: pin.identityKey,
        serverKey,
      });
      const err = new SdkError(
        'UNTRUSTED',
        `the identity key of ${entry.username} changed; verify the safety number`,
      );
      this.emit(ClientEvent.Error, err);
      throw err;
    }
    return { identityKey: pin.identityKey };
  }

  async #lookupUser(username: string): Promise<UserEntry> {
    const entry = await this.#api.userByName(normalizeUsername(username));
    if (entry.userId !== this.userId) await this.#pin(entry);
    else if (!sameBytes(fromB64(entry.identityKey), this.#account.identity.publicKey)) {
      throw new SdkError('UNTRUSTED', 'the server shows another identity key for this account');
    }
    return entry;
  }

  async #usernameOf(userId: string): Promise<string> {
    if (userId === this.userId) return this.username;
    return (await this.#store.getPin(userId))?.username ?? userId;
  }

  async #membersOf(group: Group): Promise<UserRef[]> {
    const ids = [...new Set(group.members().map((m) => m.userId))];
    const out: UserRef[] = [];
    for (const userId of ids) out.push({ userId, username: await this.#usernameOf(userId) });
    return out;
  }

  async #conversationFor(group: Group, base: ConversationRecord): Promise<ConversationRecord> {
    const members = await this.#membersOf(group);
    const others = members.filter((m) => m.userId !== this.userId);
    const only = others.length === 1 ? others[0] : undefined;
    const peer = base.kind === 'direct' ? (only ?? base.peer) : undefined;
    const { peer: _old, ...rest } = base;
    return { ...rest, members, ...(peer === undefined ? {} : { peer }), updatedAt: Date.now() };
  }

  // ---------------------------------------------------------------------------------------------
  // Group state

  async #group(groupId: string): Promise<Group | undefined> {
    const cached = this.#groups.get(groupId);
    if (cached !== undefined) return cached;
    const rec = await this.#store.getGroupState(groupId);
    if (rec === undefined) return undefined;
    const g = await decodeGroup(this.#ctx, rec.state);
    if (!g.ok) throw new SdkError('STORE', `stored group ${groupId} does not decode`, { cause: g.error });
    this.#groups.set(groupId, g.value);
    return g.value;
  }

  #putGroup(w: StoreWriter, group: Group): PendingEffect {
    w.putGroupState({ groupId: group.groupId, epoch: group.epoch, state: group.encode() });
    return () => this.#groupChanged(group);
  }

  #groupChanged(group: Group): void {
    this.#groups.set(group.groupId, group);
    this.calls.onGroupChanged(group.groupId, group.epoch);
    const waiters = this.#epochWaiters.get(group.groupId);
    if (waiters === undefined) return;
    const left = waiters.filter((w) => {
      if (group.epoch >= w.epoch) w.resolve();
      return group.epoch < w.epoch;
    });
    if (left.length === 0) this.#epochWaiters.delete(group.groupId);
    else this.#epochWaiters.set(group.groupId, left);
  }

  /** Waits until incoming commits have brought the group to `epoch` (after a STALE_EPOCH). */
  async #waitForEpoch(groupId: string, epoch: number | undefined): Promise<void> {
    if (epoch === undefined) {
      await this.sync();
      return;
    }
    const g = await this.#group(groupId);
    if (g !== undefined && g.epoch >= epoch) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.#epochWaiters.get(groupId) ?? [];
        this.#epochWaiters.set(
          groupId,
          list.filter((w) => w.resolve !== done),
        );
        reject(new SdkError('TIMEOUT', `group ${groupId} did not reach epoch ${epoch}`));
      }, EPOCH_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const list = this.#epochWaiters.get(groupId) ?? [];
      list.push({ epoch, resolve: done });
      this.#epochWaiters.set(groupId, list);
    });
  }

  async #liveConversation(id: string): Promise<ConversationRecord> {
    const conv = await this.#store.getConversation(id);
    if (conv === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no conversation ${id}`);
    if (conv.left) throw new SdkError('NOT_GROUP_MEMBER', 'this device is no longer in the conversation');
    return conv;
  }

  async #createConversation(
    kind: 'direct' | 'group',
    title: string,
    users: UserEntry[],
  ): Promise<Conversation> {
    const groupId = newId();
    await this.#api.createGroup(groupId);
    const group = await createGroup(this.#ctx, groupId);
    const now = Date.now();
    const base: ConversationRecord = {
      id: groupId,
      kind,
      title,
      members: [{ userId: this.userId, username: this.username }],
      admins: kind === 'group' ? [this.userId] : [],
      createdAt: now,
      updatedAt: now,
      left: false,
      lastSeq: 0,
    };
    const conv = await this.#conversationFor(group, base);
    let effect: PendingEffect = () => {};
    await this.#store.atomic((w) => {
      effect = this.#putGroup(w, group);
      w.putConversation(conv);
    });
    effect();
    this.#emitConversation(conv);
    try {
      await this.#commitAdd(groupId, [this.userId, ...users.map((u) => u.userId)], true);
    } catch (e) {
      // Nobody was added (the server refused a claim: RATE_LIMITED for a new account reaching
      // strangers, NO_KEY_PACKAGE, …): what is left is an empty group only this device knows,
      // which would stay in conversations() for good. It goes, and the caller gets the error.
      await this.#store.atomic((w) => {
        w.deleteGroupState(groupId);
        w.putConversation({ ...conv, left: true, hidden: true, updatedAt: Date.now() });
      });
      this.#groups.delete(groupId);
      throw e;
    }
    await this.#sendMeta(groupId);
    return this.#view((await this.#store.getConversation(groupId)) ?? conv);
  }

  /**
   * Builds, sends and stores one commit, re-deriving it from `plan` after STALE_EPOCH (somebody
   * else committed first: process their commit, then decide again what is still to do). A lost
   * connection resends the same bytes with the same msgId, which the server answers with the first
   * result, so a commit the server took is never built twice.
   */
  async #commit(
    groupId: string,
    plan: (group: Group) => Promise<CommitOutput | undefined>,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      await this.#conn.whenOnline();
      const release = await this.#locks.lock(groupId);
      let staleEpoch: number | undefined;
      try {
        const group = await this.#group(groupId);
        if (group === undefined) throw new SdkError('NOT_GROUP_MEMBER', `no group state for ${groupId}`);
        if ((await this.#store.getConversation(groupId))?.forked !== undefined)
          throw new SdkError('FORKED', `conversation ${groupId} forked: no more commits on its group`);
        const out = await plan(group);
        if (out === undefined) return false;
        const msg: OutgoingMessage = {
          msgId: newId(),
          groupId,
          kind: 'commit',
          epoch: group.epoch,
          body: toB64(out.commit),
          ...(out.added.length > 0
            ? { adds: out.added.map((m) => ({ userId: m.userId, deviceId: m.deviceId })) }
            : {}),
          ...(out.removed.length > 0 ? { removes: out.removed.map((m) => m.deviceId) } : {}),
          ...(out.welcome === undefined ? {} : { welcome: toB64(out.welcome) }),
        };
        try {
          await this.#sendReliably(msg);
        } catch (e) {
          const err = SdkError.from(e);
          if (err.code !== 'STALE_EPOCH') throw err;
          const epoch = err.details?.epoch;
          staleEpoch = typeof epoch === 'number' ? epoch : group.epoch + 1;
        }
        if (staleEpoch === undefined) {
          const conv = await this.#store.getConversation(groupId);
          const next = conv === undefined ? undefined : await this.#conversationFor(out.group, conv);
          let effect: PendingEffect = () => {};
          await this.#store.atomic((w) => {
            effect = this.#putGroup(w, out.group);
            if (next !== undefined) w.putConversation(next);
            w.markSeen(seenKey(this.deviceId, msg.msgId));
          });
          effect();
          if (next !== undefined) this.#emitConversation(next);
          if (conv !== undefined && next !== undefined) this.#shareIfNewUsers(conv, next);
          return true;
        }
      } finally {
        release();
      }
      await this.#waitForEpoch(groupId, staleEpoch);
    }
    throw new SdkError(
      'STALE_EPOCH',
      `gave up on a commit to ${groupId} after ${MAX_COMMIT_ATTEMPTS} attempts`,
    );
  }

  /** Sends until the server answers: retries the same frame across reconnects and transient errors. */
  async #sendReliably(msg: OutgoingMessage): Promise<OkFrame> {
    const backoff = { ms: 250 };
    for (;;) {
      await this.#conn.whenOnline();
      try {
        return await this.#conn.send(msg);
      } catch (e) {
        const err = SdkError.from(e);
        if (err.code === 'NETWORK' || err.code === 'TIMEOUT') continue;
        if (retryableCodes.has(err.code as never)) {
          await sleep(backoff.ms);
          backoff.ms = Math.min(backoff.ms * 2, 10_000);
          continue;
        }
        throw err;
      }
    }
  }

  /** Adds every device of `userIds` that is not in the group yet (and this account's other devices). */
  #commitAdd(groupId: string, userIds: string[], strict: boolean): Promise<boolean> {
    return this.#commit(groupId, async (group) => {
      const present = new Set(group.members().map((m) => m.deviceId));
      present.add(this.deviceId);
      const packages: Uint8Array[] = [];
      for (const userId of new Set(userIds)) {
        const devices =
          userId === this.userId
            ? (await this.#api.devices()).devices
            : (await this.#api.userById(userId)).devices;
        if (devices.every((d) => present.has(d.deviceId))) continue;
        let claimed: { deviceId: string; keyPackage: string }[];
        try {
          claimed = (await this.#api.claimKeyPackages(userId)).keyPackages;
        } catch (e) {
          const err = SdkError.from(e);
          if (err.code === 'NO_KEY_PACKAGE' && (userId === this.userId || !strict)) continue;
          throw err;
        }
        for (const c of claimed) {
          if (present.has(c.deviceId)) continue;
          const bytes = fromB64(c.keyPackage);
          const inspected = await inspectKeyPackage(this.#ctx, bytes);
          if (!inspected.ok) {
            this.emit(
              ClientEvent.Error,
              new SdkError(
                'UNTRUSTED',
                `key package of ${userId}/${c.deviceId} refused: ${inspected.error.message}`,
                {
                  cause: inspected.error,
                },
              ),
            );
            continue;
          }
          const m = inspected.value.member;
          if (m.userId !== userId || m.deviceId !== c.deviceId) {
            this.emit(
              ClientEvent.Error,
              new SdkError('UNTRUSTED', `key package for ${c.deviceId} names another device`),
            );
            continue;
          }
          present.add(m.deviceId);
          packages.push(bytes);
        }
      }
      if (packages.length === 0) return undefined;
      const r = await addMembers(this.#ctx, group, packages);
      if (!r.ok) throw new SdkError('CRYPTO', `add members: ${r.error.message}`, { cause: r.error });
      return r.value;
    });
  }

  #commitRemoveDevices(
    groupId: string,
    pick: (m: { userId: string; deviceId: string }) => boolean,
  ): Promise<boolean> {
    return this.#commit(groupId, async (group) => {
      const ids = group
        .members()
        .filter((m) => m.deviceId !== this.deviceId && pick(m))
        .map((m) => m.deviceId);
      if (ids.length === 0) return undefined;
      const r = await removeMembers(this.#ctx, group, ids);
      if (!r.ok) throw new SdkError('CRYPTO', `remove members: ${r.error.message}`, { cause: r.error });
      return r.value;
    });
  }

  #commitRemoveUser(groupId: string, userId: string): Promise<boolean> {
    return this.#commitRemoveDevices(groupId, (m) => m.userId === userId);
  }

  async #removeDeviceEverywhere(deviceId: string): Promise<void> {
    for (const conv of await this.#store.listConversations()) {
      if (conv.left) continue;
      try {
        await this.#commitRemoveDevices(conv.id, (m) => m.deviceId === deviceId);
      } catch (e) {
        this.emit(ClientEvent.Error, SdkError.from(e));
      }
    }
  }

  /**
   * Adds a new device of this account to every group we are in. `device-added` comes as soon as
   * the device is registered, usually before it has uploaded key packages, so we retry (with
   * backoff, about a minute in all) until every group holds it. Every other device of the account
   * races to do the same; STALE_EPOCH plus "skip if present" make that harmless.
   */
  async #addOwnDeviceEverywhere(deviceId: string): Promise<void> {
    for (let attempt = 0; attempt < 9 && !this.#closed; attempt++) {
      let missing = 0;
      for (const conv of await this.#store.listConversations()) {
        // A request is not ours to bring other devices into until it is accepted (#resolveRequest).
        if (conv.left || conv.request !== undefined) continue;
        try {
          if (await this.#commitAdd(conv.id, [this.userId], false)) {
            await this.#sendMeta(conv.id);
            // The new device starts from the defaults: it gets our rules at once.
            if (conv.id === this.#selfGroupId) await this.#sendConsentSnapshot();
          }
        } catch (e) {
          this.emit(ClientEvent.Error, SdkError.from(e));
        }
        const g = await this.#group(conv.id);
        if (g !== undefined && !g.members().some((m) => m.deviceId === deviceId)) missing++;
      }
      if (missing === 0) return;
      await sleep(Math.min(250 * 2 ** attempt, 15_000));
    }
  }

  async #sendMeta(groupId: string): Promise<void> {
    const conv = await this.#store.getConversation(groupId);
    if (conv === undefined || conv.left) return;
    await this.#enqueueEnvelope(groupId, {
      v: 1,
      type: 'meta',
      kind: conv.kind,
      title: conv.title,
      ...(conv.kind === 'group' ? { admins: conv.admins } : {}),
    });
  }

  async #markLeft(groupId: string): Promise<void> {
    const conv = await this.#store.getConversation(groupId);
    await this.#store.atomic((w) => {
      w.deleteGroupState(groupId);
      if (conv !== undefined) w.putConversation({ ...conv, left: true, updatedAt: Date.now() });
    });
    this.#groups.delete(groupId);
    if (conv !== undefined) this.#emitConversation({ ...conv, left: true });
  }

  // ---------------------------------------------------------------------------------------------
  // Outbox: application messages

  /** Stores the envelope in the outbox (stable msgId), then sends it after the conversation's earlier sends. */
  async #enqueueEnvelope(conversationId: string, envelope: Envelope): Promise<StoredMessage | undefined> {
    const conv = await this.#liveConversation(conversationId);
    if (conv.forked !== undefined)
      throw new SdkError('FORKED', 'this conversation is being moved to a new group; try again shortly');
    if (conv.readOnly === true)
      throw new SdkError(
        'NOT_GROUP_MEMBER',
        'the server says this device is not in the group; retryOutbox() or discardOutbox() first',
      );
    const now = Date.now();
    const entry: OutboxRecord = {
      msgId: newId(),
      conversationId,
      order: `${String(now).padStart(15, '0')}.${String(++this.#outboxCounter).padStart(9, '0')}`,
      createdAt: now,
      envelope,
    };
    await this.#store.atomic((w) => w.putOutbox(entry));
    return this.#chainSend(entry);
  }

  #chainSend(entry: OutboxRecord): Promise<StoredMessage | undefined> {
    this.#inflight.add(entry.msgId);
    const prev = this.#sendChains.get(entry.conversationId) ?? Promise.resolve();
    const next = prev
      .catch(() => {})
      .then(() => this.#deliverOutboxEntry(entry))
      .finally(() => this.#inflight.delete(entry.msgId));
    this.#sendChains.set(entry.conversationId, next);
    return next;
  }

  async #resumeOutbox(conversationId?: string): Promise<void> {
    const parked = new Set(
      (await this.#store.listConversations())
        .filter((c) => c.readOnly === true || c.forked !== undefined)
        .map((c) => c.id),
    );
    for (const entry of await this.#store.listOutbox(conversationId)) {
      if (this.#inflight.has(entry.msgId)) continue;
      // Waiting for the user (retryOutbox / discardOutbox), not for the network.
      if (parked.has(entry.conversationId)) continue;
      this.#chainSend(entry).catch((e) => {
        // A parked send was reported when it was parked.
        if (!(e instanceof SdkError && (e.code === 'NOT_GROUP_MEMBER' || e.code === 'FORKED')))
          this.emit(ClientEvent.Error, SdkError.from(e));
      });
    }
  }

  async #deliverOutboxEntry(entry: OutboxRecord): Promise<StoredMessage | undefined> {
    const parsed = EnvelopeSchema.safeParse(entry.envelope);
    const groupId = entry.conversationId;
    const drop = async (err: SdkError) => {
      await this.#store.atomic((w) => w.deleteOutbox(entry));
      throw err;
    };
    // The server (or our own state) says we are not in the group. That may be a removal we have
    // not processed, or one we never agreed to (review M1): the message is not the user's to lose.
    // Keep it, stop sending to the conversation, and let the user retry or discard it.
    const park = async (err: SdkError): Promise<never> => {
      await this.#locks.with(stateLock(groupId), async () => {
        const conv = await this.#store.getConversation(groupId);
        if (conv !== undefined && conv.readOnly !== true) {
          const next = { ...conv, readOnly: true, updatedAt: Date.now() };
          await this.#store.atomic((w) => w.putConversation(next));
          this.#emitConversation(next);
        }
      });
      const parked = new SdkError(
        'NOT_GROUP_MEMBER',
        `message ${entry.msgId} was not sent: ${err.message}; it stays queued (retryOutbox / discardOutbox)`,
        { cause: err, details: { conversationId: groupId, msgId: entry.msgId } },
      );
      this.emit(ClientEvent.Error, parked);
      throw parked;
    };
    if (!parsed.success) return drop(new SdkError('STORE', 'outbox entry holds an invalid envelope'));
    const envelope = parsed.data;
    const current = await this.#store.getConversation(groupId);
    if (current?.forked !== undefined) {
      // Never on a forked group: the entry stays queued.
      throw new SdkError('FORKED', `message ${entry.msgId} waits: the conversation forked`, {
        details: { conversationId: groupId, msgId: entry.msgId },
      });
    }
    if (current?.readOnly === true) {
      // An earlier send of this conversation was parked: this one waits with it, quietly.
      throw new SdkError('NOT_GROUP_MEMBER', `message ${entry.msgId} waits: the conversation is read-only`, {
        details: { conversationId: groupId, msgId: entry.msgId },
      });
    }
    for (;;) {
      let msg: OutgoingMessage;
      {
        await this.#conn.whenOnline();
        const release = await this.#locks.lock(groupId);
        try {
          const group = await this.#group(groupId);
          if (group === undefined)
            return park(new SdkError('NOT_GROUP_MEMBER', 'this device is not in the group'));
          // A fresh franking key per encryption: the commitment always matches the body sent with it.
          const franked = frankEnvelope(envelope);
          const r = await encryptMessage(this.#ctx, group, franked.plaintext);
          if (!r.ok) return drop(new SdkError('CRYPTO', r.error.message, { cause: r.error }));
          this.#ephemeralCount.delete(groupId);
          // The advanced sender ratchet is stored before the ciphertext leaves: a crash must never
          // let us encrypt twice with the same key and nonce.
          let effect: PendingEffect = () => {};
          await this.#store.atomic((w) => {
            effect = this.#putGroup(w, r.value.group);
          });
          effect();
          msg = {
            msgId: entry.msgId,
            groupId,
            kind: 'application',
            epoch: group.epoch,
            body: toB64(r.value.message),
            franking: franked.cf,
          };
          const push = pushHintOf(envelope);
          if (push !== undefined) msg.push = push;
        } finally {
          release();
        }
      }
      let ok: OkFrame;
      try {
        ok = await this.#sendReliably(msg);
      } catch (e) {
        const err = SdkError.from(e);
        if (err.code === 'STALE_EPOCH') {
          const epoch = err.details?.epoch;
          await this.#waitForEpoch(groupId, typeof epoch === 'number' ? epoch : undefined);
          continue;
        }
        if (err.code === 'CLOSED') throw err;
        if (err.code === 'NOT_GROUP_MEMBER') return park(err);
        return drop(err);
      }
      return this.#recordSent(entry, envelope, ok);
    }
  }

  async #recordSent(
    entry: OutboxRecord,
    envelope: Envelope,
    ok: OkFrame,
  ): Promise<StoredMessage | undefined> {
    const body = bodyOf(envelope);
    const me = { userId: this.userId, username: this.username, deviceId: this.deviceId };
    return this.#locks.with(stateLock(entry.conversationId), async () => {
      const conv = await this.#store.getConversation(entry.conversationId);
      const message: StoredMessage | undefined =
        body === undefined
          ? undefined
          : {
              id: entry.msgId,
              conversationId: entry.conversationId,
              seq: ok.seq,
              from: me,
              sentAt: entry.createdAt,
              receivedAt: Date.now(),
              body,
              outgoing: true,
              reactions: {},
              status: 'sent',
              ...(envelope.type === 'text' && envelope.replyTo !== undefined
                ? { replyTo: envelope.replyTo }
                : {}),
            };
      // Our own reactions, edits and deletes take effect here once the server has them.
      const effect =
        message === undefined
          ? await this.#prepareEffect(entry.conversationId, envelope, me, entry.createdAt)
          : undefined;
      const state =
        message === undefined
          ? undefined
          : withLastMessage(await this.#store.getConversationState(entry.conversationId), message);
      // Our own rename or admin change: here once the server has it (the others apply it on
      // receipt), under the same rule as theirs, so that every device's view stays the same.
      const metaConv =
        envelope.type === 'meta' && conv !== undefined && !conv.left && isAdmin(conv, this.userId)
          ? applyMeta(conv, envelope)
          : undefined;
      await this.#store.atomic((w) => {
        w.deleteOutbox(entry).markSeen(seenKey(this.deviceId, entry.msgId));
        if (metaConv !== undefined) w.putConversation(metaConv);
        if (message !== undefined) {
          w.putMessage(message);
          if (state !== undefined) w.putConversationState(entry.conversationId, state);
          if (conv !== undefined)
            w.putConversation({ ...conv, lastSeq: Math.max(conv.lastSeq, ok.seq), updatedAt: Date.now() });
        }
        effect?.write(w);
      });
      if (message !== undefined) this.emit(ClientEvent.Message, message);
      if (metaConv !== undefined) this.#emitConversation(metaConv);
      effect?.emit();
      return message;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Incoming

  /** The server's block list is the account's: this device follows it (blocks made elsewhere). */
  async #syncBlocks(): Promise<void> {
    const local = new Set(await this.#store.listBlocked());
    let { blocked } = await this.#api.blocks();
    if ((await this.#store.getKv(BLOCKS_ON_SERVER)) !== true) {
      // Blocks made before the server kept them were this device's only: hand them over once.
      for (const u of local) {
        if (blocked.includes(u)) continue;
        try {
          ({ blocked } = await this.#api.block(u));
        } catch (e) {
          // An account deleted since: nothing left to block.
          if (SdkError.from(e).code !== 'NOT_FOUND') throw e;
        }
      }
      await this.#store.setKv(BLOCKS_ON_SERVER, true);
    }
    const server = new Set(blocked);
    if (server.size === local.size && [...server].every((u) => local.has(u))) return;
    await this.#store.atomic((w) => {
      for (const u of server) if (!local.has(u)) w.setBlocked(u, true);
      for (const u of local) if (!server.has(u)) w.setBlocked(u, false);
    });
  }

  #onReady(): void {
    this.#acks = [];
    this.#caughtUp = false;
    this.#spawn(() => this.#topUpKeyPackages());
    this.#spawn(() => this.#reconcileOwnDevices());
    this.#spawn(() => this.#expirePending());
    this.#spawn(() => this.#setUpSelfGroup());
    this.#spawn(() => this.#moderation.fetchNotices());
    this.#spawn(() => this.#syncBlocks());
    this.#spawn(() => this.#refreshFronts());
    this.calls.onReconnected();
  }

  /**
   * Adds another way to this server, e.g. a community proxy from a `kolokol://proxy` link
   * (`proxyFront(parseProxyLink(text))`), kept on this device. False if it was known already.
   */
  async addFront(url: string): Promise<boolean> {
    if (frontOrigin(url) === undefined)
      throw new SdkError('INVALID_ARGUMENT', 'a front is an https://HOST[:PORT] address');
    const added = this.fronts.learn([url]);
    if (added) await this.#store.setKv(FRONTS_KEY, [...this.fronts.all()]);
    return added;
  }

  async #loadFronts(): Promise<void> {
    const known = FrontList.safeParse(await this.#store.getKv(FRONTS_KEY).catch(() => undefined));
    if (known.success) this.fronts.learn(known.data);
  }

  /** Asks the server for its current list of fronts and keeps it for the next start. */
  async #refreshFronts(): Promise<void> {
    // Best effort: the list only helps when something fails, and the next connection asks again.
    const info = await this.#api.info().catch(() => undefined);
    if (info?.fronts === undefined) return;
    // Written only when the list grew: every connect asks, and the answer rarely changes.
    if (this.fronts.learn(info.fronts)) await this.#store.setKv(FRONTS_KEY, [...this.fronts.all()]);
  }

  /**
   * `device-added` and `device-revoked` reach only devices that are online when they happen. So on
   * every connection, once caught up, compare the account's active devices with our groups: add
   * the missing ones, remove the revoked ones. This is what lets a device linked while all the
   * others were offline (a CLI that ran `link-code` and exited) join every conversation later.
   */
  async #reconcileOwnDevices(): Promise<void> {
    if (!this.#caughtUp) await new Promise<void>((resolve) => this.#syncWaiters.push(resolve));
    if (this.#closed) return;
    const active = new Set((await this.devices()).map((d) => d.deviceId));
    const missing = new Set<string>();
    const revoked = new Set<string>();
    for (const conv of await this.#store.listConversations()) {
      if (conv.left) continue;
      const g = await this.#group(conv.id);
      if (g === undefined) continue;
      if (conv.request !== undefined) {
        // Revoked devices still go; new ones wait until the request is accepted.
        for (const m of g.members())
          if (m.userId === this.userId && !active.has(m.deviceId)) revoked.add(m.deviceId);
        continue;
      }
      const present = new Set(
        g
          .members()
          .filter((m) => m.userId === this.userId)
          .map((m) => m.deviceId),
      );
      for (const d of active) if (!present.has(d)) missing.add(d);
      for (const d of present) if (!active.has(d)) revoked.add(d);
    }
    for (const d of revoked) await this.#removeDeviceEverywhere(d);
    // One pass adds every missing device of ours to every group (see #addOwnDeviceEverywhere).
    const first = missing.values().next();
    if (!first.done) await this.#addOwnDeviceEverywhere(first.value);
  }

  #onFatal(e: SdkError): void {
    this.emit(ClientEvent.Error, e);
    if (e.code === 'SUSPENDED') this.#moderation.onSuspendedError(e);
    if (e.code === 'DEVICE_REVOKED')
      this.emit(ClientEvent.DeviceRevoked, { userId: this.userId, deviceId: this.deviceId });
    for (const w of this.#syncWaiters) w();
    this.#syncWaiters = [];
  }

  #onFrame(frame: PushFrame): void {
    const onError = (e: unknown) => this.emit(ClientEvent.Error, SdkError.from(e));
    switch (frame.t) {
      case 'deliver': {
        this.#deliverCount++;
        this.#caughtUp = false;
        this.#inbound.push(async () => {
          for (const item of frame.items) await this.#safeProcess(item);
          this.#flushAcks();
          this.#scheduleDeliveryReceipts();
        }, onError);
        return;
      }
      case 'ephemeral':
        // In the inbound order, so that it meets the group state the items before it left.
        this.#inbound.push(
          () => this.#processEphemeral(frame.item),
          () => {},
        );
        return;
      case 'synced': {
        const at = this.#deliverCount;
        this.#inbound.push(async () => {
          if (at !== this.#deliverCount) return;
          this.#caughtUp = true;
          const waiters = this.#syncWaiters;
          this.#syncWaiters = [];
          for (const w of waiters) w();
        }, onError);
        return;
      }
      case 'event':
        this.#inbound.push(async () => this.#onServerEvent(frame.event), onError);
        return;
    }
  }

  #onServerEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case 'keypackages-low':
        this.emit(ClientEvent.KeyPackagesLow, { remaining: ev.remaining });
        this.#spawn(() => this.#topUpKeyPackages());
        return;
      case 'device-added':
        this.emit(ClientEvent.DeviceAdded, { userId: ev.userId, deviceId: ev.deviceId });
        if (ev.userId === this.userId && ev.deviceId !== this.deviceId)
          this.#spawn(() => this.#addOwnDeviceEverywhere(ev.deviceId));
        return;
      case 'device-revoked':
        this.emit(ClientEvent.DeviceRevoked, { userId: ev.userId, deviceId: ev.deviceId });
        if (ev.deviceId === this.deviceId) return; // the connection's fatal path stops us
        this.#spawn(() => this.#removeDeviceEverywhere(ev.deviceId));
        return;
      case 'notice':
        this.#spawn(() => this.#moderation.onNotice(ev.notice));
        return;
      case 'account-deleted': {
        const userId = ev.userId;
        this.#spawn(async () => {
          await this.#insertSystem('account-deleted', userId);
          for (const c of await this.#store.listConversations()) {
            if (!c.left && c.members.some((m) => m.userId === userId)) {
              // Like a leave: any member removes a deleted account, admin or not.
              const before = Leaving.safeParse(await this.#store.getKv(leavingKey(c.id)));
              const list = before.success ? before.data : [];
              if (!list.includes(userId))
                await this.#store.atomic((w) => w.setKv(leavingKey(c.id), [...list, userId].slice(-1000)));
              await this.#commitRemoveUser(c.id, userId);
            }
          }
        });
        return;
      }
    }
  }

  /** Background work started by incoming items or events: never awaited by the receive loop. */
  #spawn(fn: () => Promise<void>): void {
    const p: Promise<void> = fn()
      .catch((e) => {
        if (!(e instanceof SdkError && e.code === 'CLOSED')) this.emit(ClientEvent.Error, SdkError.from(e));
      })
      .finally(() => this.#tasks.delete(p));
    this.#tasks.add(p);
  }

  #ack(id: number): void {
    this.#acks.push(id);
  }

  #flushAcks(): void {
    const ids = this.#acks;
    this.#acks = [];
    this.#conn.ack(ids);
  }

  async #pendingIndex(): Promise<Map<string, { groupId: string; heldAt: number; item: MailboxItem }>> {
    if (this.#pending === undefined) {
      const index = new Map<string, { groupId: string; heldAt: number; item: MailboxItem }>();
      for (const p of await this.#store.listPending())
        index.set(pendingKey(p.item), { groupId: p.item.groupId, heldAt: p.heldAt, item: p.item });
      this.#pending ??= index;
    }
    return this.#pending;
  }

  /**
   * Keeps an item we cannot process yet (a group we have no state for, an epoch we have not
   * reached) in the Store and acknowledges it. Holding it unacknowledged instead would let anyone
   * who can put items in our mailbox fill the server's in-flight window and stop all our delivery
   * (security review H1). Bounded per group and in all; the oldest go first, reported as DROPPED.
   */
  async #hold(item: MailboxItem): Promise<void> {
    const index = await this.#pendingIndex();
    const key = pendingKey(item);
    if (!index.has(key)) {
      const heldAt = Date.now();
      await this.#store.atomic((w) => w.putPending({ item, heldAt }));
      index.set(key, { groupId: item.groupId, heldAt, item });
    }
    this.#ack(item.id);
    const over: string[] = [];
    const ofGroup = [...index].filter(([, p]) => p.groupId === item.groupId);
    if (ofGroup.length > MAX_PENDING_PER_GROUP) {
      ofGroup.sort(([, a], [, b]) => a.heldAt - b.heldAt);
      for (const [k] of ofGroup.slice(0, ofGroup.length - MAX_PENDING_PER_GROUP)) over.push(k);
    }
    if (index.size - over.length > MAX_PENDING) {
      const all = [...index].filter(([k]) => !over.includes(k)).sort(([, a], [, b]) => a.heldAt - b.heldAt);
      for (const [k] of all.slice(0, all.length - MAX_PENDING)) over.push(k);
    }
    if (over.length > 0) await this.#dropPending(over, 'too many items held');
  }

  async #dropPending(keys: string[], why: string): Promise<void> {
    const index = await this.#pendingIndex();
    const items = keys.flatMap((k) => {
      const p = index.get(k);
      return p === undefined ? [] : [p.item];
    });
    if (items.length === 0) return;
    await this.#store.atomic((w) => {
      for (const i of items) w.deletePending(i);
    });
    for (const k of keys) index.delete(k);
    const groups = [...new Set(items.map((i) => i.groupId))];
    this.emit(
      ClientEvent.Error,
      new SdkError('DROPPED', `dropped ${items.length} held item(s) of ${groups.join(', ')}: ${why}`, {
        details: { groups, count: items.length },
      }),
    );
  }

  /** Drops held items older than PENDING_TTL_MS (after each drain, and on every connect). */
  async #expirePending(): Promise<void> {
    const cutoff = Date.now() - PENDING_TTL_MS;
    const index = await this.#pendingIndex();
    const old = [...index].filter(([, p]) => p.heldAt < cutoff).map(([k]) => k);
    if (old.length > 0) await this.#dropPending(old, 'held for more than a day');
  }

  /** Retries the group's held items, oldest epoch first (after a commit or welcome for it). */
  async #drainPending(groupId: string): Promise<void> {
    if (this.#draining.has(groupId)) {
      // A commit processed inside the running drain: it goes round once more.
      this.#drainAgain.add(groupId);
      return;
    }
    this.#draining.add(groupId);
    try {
      do {
        this.#drainAgain.delete(groupId);
        const index = await this.#pendingIndex();
        const held = [...index.values()]
          .filter((p) => p.groupId === groupId)
          .map((p) => p.item)
          .sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
        for (const item of held) await this.#safeProcess(item, true);
      } while (this.#drainAgain.has(groupId));
    } finally {
      this.#draining.delete(groupId);
    }
    await this.#expirePending();
  }

  /**
   * Never throws: one bad item is acked and reported; the rest of the mailbox goes on. `held`: the
   * item comes from the Store's held items (already acknowledged), and leaves them once processed.
   */
  async #safeProcess(item: MailboxItem, held = false): Promise<void> {
    let stillHeld = false;
    try {
      stillHeld = await this.#processItem(item, held);
    } catch (e) {
      const err = SdkError.from(e);
      if (err.code === 'STORE' || err.code === 'CLOSED') {
        // Not the item's fault: leave it unacked (or held) so that it comes again.
        this.emit(ClientEvent.Error, err);
        return;
      }
      this.emit(
        ClientEvent.Error,
        new SdkError(err.code, `item ${item.id} (${item.kind}): ${err.message}`, { cause: e }),
      );
      this.#ack(item.id);
    }
    if (held && !stillHeld) {
      const key = pendingKey(item);
      await this.#store.atomic((w) => w.deletePending(item));
      this.#pending?.delete(key);
    }
  }

  /** Returns true when the item is (still) held for later. */
  async #processItem(item: MailboxItem, held = false): Promise<boolean> {
    const seen = seenKey(item.sender.deviceId, item.msgId);
    if (await this.#store.isSeen(seen)) {
      this.#ack(item.id);
      return false;
    }
    let body: Uint8Array;
    try {
      body = fromB64(item.body);
    } catch (cause) {
      throw new SdkError('BAD_RESPONSE', 'item body is not base64url', { cause });
    }
    if (item.kind === 'welcome') {
      await this.#processWelcome(item, body, seen);
      return false;
    }
    const outcome = await this.#locks.with(item.groupId, async () => {
      const group = await this.#group(item.groupId);
      if (group === undefined) {
        const conv = await this.#store.getConversation(item.groupId);
        if (conv?.left === true) return 'drop' as const;
        return 'buffer' as const; // its welcome may still be on the way
      }
      if (item.epoch > group.epoch) return 'buffer' as const;
      const r = await processMessage(this.#ctx, group, body);
      if (!r.ok && item.kind === 'commit' && item.epoch === group.epoch) {
        await this.#markForked(item, seen, r.error);
        return 'done' as const;
      }
      if (!r.ok) {
        await this.#store.atomic((w) => w.markSeen(seen));
        this.#ack(item.id);
        this.emit(
          ClientEvent.Error,
          new SdkError('DECRYPT', `cannot process ${item.kind} ${item.msgId}: ${r.error.message}`, {
            cause: r.error,
          }),
        );
        return 'done' as const;
      }
      const p = r.value;
      if (p.kind === 'application') {
        await this.#onApplication(item, seen, p.group, p.plaintext, p.sender);
        return 'done' as const;
      }
      if (p.kind === 'proposal') {
        let effect: PendingEffect = () => {};
        await this.#store.atomic((w) => {
          effect = this.#putGroup(w, p.group);
          w.markSeen(seen);
        });
        effect();
        this.#ack(item.id);
        return 'done' as const;
      }
      await this.#onCommit(item, seen, p.group, p.removedSelf, p);
      return 'commit' as const;
    });
    if (outcome === 'drop') {
      this.#ack(item.id);
    } else if (outcome === 'buffer') {
      if (!held) await this.#hold(item);
      return true;
    } else if (outcome === 'commit') {
      await this.#drainPending(item.groupId);
    }
    return false;
  }

  /**
   * The server accepted a commit for our current epoch (it moved the group on) and we cannot
   * process it: garbage from a member, or a commit this device refuses (review H2). Staying at the
   * old epoch and sending on it would let that member keep reading, so the conversation is marked
   * forked and nothing more is sent on this group: no messages, no commits, no typing.
   */
  async #markForked(item: MailboxItem, seen: string, cause: unknown): Promise<void> {
    const conv = await this.#store.getConversation(item.groupId);
    const next: ConversationRecord | undefined =
      conv === undefined
        ? undefined
        : {
            ...conv,
            forked: { at: Date.now(), by: { ...item.sender }, epoch: item.epoch },
            updatedAt: Date.now(),
          };
    await this.#store.atomic((w) => {
      w.markSeen(seen);
      if (next !== undefined) w.putConversation(next);
    });
    this.#ack(item.id);
    if (next !== undefined) this.#emitConversation(next);
    this.emit(
      ClientEvent.Error,
      new SdkError(
        'FORKED',
        `conversation ${item.groupId} forked: cannot process the commit of ${item.sender.userId}/${item.sender.deviceId} for epoch ${item.epoch}; nothing more is sent on it`,
        { cause, details: { conversationId: item.groupId, by: { ...item.sender }, epoch: item.epoch } },
      ),
    );
  }

  async #onApplication(
    item: MailboxItem,
    seen: string,
    group: Group,
    plaintext: Uint8Array,
    sender: { userId: string; deviceId: string },
  ): Promise<void> {
    const decoded = decodeEnvelope(plaintext);
    const franking = checkFranking(item, plaintext);
    const effects: PendingEffect[] = [];
    let message: StoredMessage | undefined;
    let nextConv: ConversationRecord | undefined;
    let leaver: string | undefined;
    let leaving: string[] | undefined;
    let refused: SdkError | undefined;
    let effect: Effect | undefined;
    let state: ConversationStateRecord | undefined;
    /** A message of a request: stored for when it is accepted, not shown (no event, no receipt). */
    let quiet = false;
    /** We answered a request from another device of ours by writing in it. */
    let acceptedByUs = false;
    let decided: 'allow' | 'request' | 'leave' | 'drop' | 'keep' | undefined;
    let consentSync: ConsentEnvelope | undefined;
    const own = sender.userId === this.userId;
    // A blocked user's words are dropped; group bookkeeping (meta, leave) still applies.
    const blocked = !own && (await this.#store.isBlocked(sender.userId));
    const release = await this.#locks.lock(stateLock(item.groupId));
    try {
      const conv = await this.#store.getConversation(item.groupId);
      const req = conv?.request;
      if (decoded.ok) {
        const env = decoded.envelope;
        const body = bodyOf(env);
        if (body !== undefined) {
          acceptedByUs = own && req !== undefined && req.state !== 'refused';
          quiet = req !== undefined && !acceptedByUs;
          // A refused conversation keeps nothing of what its stranger writes.
          if (!blocked && !(req?.state === 'refused' && !own)) {
            message = {
              id: item.msgId,
              conversationId: item.groupId,
              seq: item.seq,
              from: {
                userId: sender.userId,
                username: await this.#usernameOf(sender.userId),
                deviceId: sender.deviceId,
              },
              sentAt: item.sentAt,
              receivedAt: Date.now(),
              body,
              outgoing: own,
              reactions: {},
              ...(own ? { status: 'sent' as const } : {}),
              ...(env.type === 'text' && env.replyTo !== undefined ? { replyTo: env.replyTo } : {}),
              ...(franking === undefined ? {} : { franking }),
            };
            const prev = await this.#store.getConversationState(item.groupId);
            // Replying from another of our devices means we read the conversation there.
            state = withLastMessage({ ...prev, unread: own ? 0 : prev.unread + 1 }, message);
          }
          if (conv !== undefined) {
            const { request: _r, ...accepted } = conv;
            nextConv = {
              ...(acceptedByUs ? accepted : conv),
              lastSeq: Math.max(conv.lastSeq, item.seq),
              updatedAt: Date.now(),
            };
          }
        } else if (env.type === 'consent') {
          // Only our own devices speak for us; anyone else's is ignored.
          if (own) consentSync = env;
        } else if (env.type === 'meta' && conv !== undefined) {
          const applied = applyMeta(conv, env);
          if (isAdmin(conv, sender.userId)) {
            nextConv = await this.#conversationFor(group, applied);
          } else if (
            applied.kind !== conv.kind ||
            applied.title !== conv.title ||
            applied.admins.join() !== conv.admins.join()
          ) {
            // A non-admin's meta that changes something is refused (an unchanged one, e.g. after a
            // member added its own new device, is just the state everyone already has).
            refused = new SdkError(
              'FORBIDDEN',
              `conversation ${item.groupId}: ${sender.userId} is not an admin; its rename or admin change is ignored`,
              { details: { conversationId: item.groupId, by: { ...sender }, change: 'meta' } },
            );
          }
          if (req?.state === 'pending' && sender.userId === req.by) {
            // The first meta of whoever added us says what the conversation is: now the rules decide.
            const users = new Set(group.members().map((m) => m.userId)).size;
            const asGroup = env.kind === 'group' || users > 2;
            const d = await this.consent.decide(asGroup ? 'groups' : 'messages', req.by);
            const base = nextConv ?? conv;
            const { request: _r, ...plain } = base;
            if (d === 'allow') {
              nextConv = plain;
              decided = 'allow';
            } else if (d === 'request') {
              nextConv = { ...base, request: { ...req, state: 'request' } };
              decided = 'request';
            } else {
              nextConv = { ...base, hidden: true, request: { ...req, state: 'refused' } };
              // A refused 1:1 group stays only while its person may still call (silenced calls are logged).
              const keep = !asGroup && (await this.consent.decide('calls', req.by)) !== 'refuse';
              decided = asGroup ? 'leave' : keep ? 'keep' : 'drop';
            }
          }
        } else if (env.type === 'leave') {
          leaver = sender.userId;
          const before = Leaving.safeParse(await this.#store.getKv(leavingKey(item.groupId)));
          const list = before.success ? before.data : [];
          if (!list.includes(sender.userId)) leaving = [...list, sender.userId].slice(-1000);
        } else if (!blocked) {
          effect = await this.#prepareEffect(
            item.groupId,
            env,
            { userId: sender.userId, deviceId: sender.deviceId },
            item.sentAt,
          );
        }
      }
      await this.#store.atomic((w) => {
        effects.push(this.#putGroup(w, group));
        w.markSeen(seen);
        if (message !== undefined) w.putMessage(message);
        if (state !== undefined) w.putConversationState(item.groupId, state);
        if (nextConv !== undefined) w.putConversation(nextConv);
        if (leaving !== undefined) w.setKv(leavingKey(item.groupId), leaving);
        effect?.write(w);
      });
    } finally {
      release();
    }
    if (refused !== undefined) this.emit(ClientEvent.Error, refused);
    for (const e of effects) e();
    this.#ack(item.id);
    if (!decoded.ok) {
      this.emit(ClientEvent.Error, new SdkError('BAD_ENVELOPE', `message ${item.msgId}: ${decoded.reason}`));
    }
    if (acceptedByUs && nextConv !== undefined) this.#emitConversation(nextConv);
    if (franking?.valid === false) {
      // Kept, but flagged: whoever sent it cannot be held to it, so it cannot be reported either.
      this.emit(
        ClientEvent.Error,
        new SdkError(
          'UNTRUSTED',
          `message ${item.msgId}: its franking commitment does not match its content`,
          {
            details: { conversationId: item.groupId, msgId: item.msgId, by: { ...sender } },
          },
        ),
      );
    }
    if (message !== undefined && !quiet) {
      this.emit(ClientEvent.Message, message);
      if (!own) {
        const list = this.#pendingDelivered.get(item.groupId) ?? [];
        list.push(item.msgId);
        this.#pendingDelivered.set(item.groupId, list);
      }
    }
    effect?.emit();
    if (decoded.ok && decoded.envelope.type === 'call' && !blocked)
      this.calls.onSignal(item.groupId, sender, decoded.envelope, item.sentAt);
    if (nextConv !== undefined && message === undefined) this.#emitConversation(nextConv);
    if (consentSync !== undefined) {
      const sync = consentSync;
      this.#spawn(() => this.consent.onSync(sync));
    }
    if (decided !== undefined) this.#afterDecision(item.groupId, decided);
    if (leaver !== undefined) {
      const groupId = item.groupId;
      if (leaver === this.userId) {
        // Another of our devices left: this one leaves too (the rest of the group removes us).
        this.#spawn(() => this.#markLeft(groupId));
      } else {
        this.#spawn(async () => {
          await this.#commitRemoveUser(groupId, leaver);
        });
      }
    }
  }

  /**
   * What a reaction, edit, delete, receipt or profile envelope changes, computed before the
   * transaction (the caller holds the conversation's state lock) and written inside it. Returns
   * undefined when it changes nothing (unknown target, not the author, stale profile...).
   */
  async #prepareEffect(
    conversationId: string,
    env: Envelope,
    sender: { userId: string; deviceId: string },
    at: number,
  ): Promise<Effect | undefined> {
    const updated: StoredMessage[] = [];
    let state: ConversationStateRecord | undefined;
    let profile: ProfileRecord | undefined;
    let nameChanged = false;
    const byId = (id: string) => this.#store.getMessageById(conversationId, id);
    switch (env.type) {
      case 'reaction': {
        const m = await byId(env.target);
        if (m === undefined || m.deleted === true || m.body.type === 'system') return undefined;
        const reactions: Record<string, string[]> = {};
        for (const [emoji, users] of Object.entries(m.reactions)) {
          const rest = users.filter((u) => u !== sender.userId);
          if (rest.length > 0) reactions[emoji] = rest;
        }
        if (env.emoji !== null) reactions[env.emoji] = [...(reactions[env.emoji] ?? []), sender.userId];
        updated.push({ ...m, reactions });
        break;
      }
      case 'edit':
      case 'delete': {
        const m = await byId(env.target);
        // Only the author may change a message; the author is what MLS authenticated.
        if (
          m === undefined ||
          m.from.userId !== sender.userId ||
          m.deleted === true ||
          m.body.type === 'system'
        )
          return undefined;
        if (env.type === 'edit' && m.body.type !== 'text') return undefined;
        const next: StoredMessage =
          env.type === 'edit'
            ? { ...m, body: { type: 'text', text: env.text }, editedAt: at }
            : { ...m, body: { type: 'text', text: '' }, deleted: true, reactions: {} };
        updated.push(next);
        const prev = await this.#store.getConversationState(conversationId);
        if (prev.lastMessageId === m.id && prev.lastMessage !== undefined) {
          state = { ...prev, lastMessage: { ...prev.lastMessage, text: previewOf(next) } };
        }
        break;
      }
      case 'receipt': {
        if (sender.userId === this.userId) {
          // Read on another of our devices: nothing unread here either.
          if (env.kind === 'read')
            state = { ...(await this.#store.getConversationState(conversationId)), unread: 0 };
          break;
        }
        const targets = (await Promise.all(env.ids.map(byId))).filter(
          (m): m is StoredMessage => m !== undefined,
        );
        if (env.kind === 'delivered') {
          for (const m of targets)
            if (m.outgoing && statusRank(m.status) < statusRank('delivered'))
              updated.push({ ...m, status: 'delivered' });
        } else {
          const upTo = Math.max(-1, ...targets.map((m) => m.seq));
          if (upTo < 0) return undefined;
          for (const m of await this.#store.listMessages(conversationId, { limit: RECEIPT_SCAN })) {
            if (
              m.outgoing &&
              m.seq <= upTo &&
              m.body.type !== 'system' &&
              statusRank(m.status) < statusRank('read')
            )
              updated.push({ ...m, status: 'read' });
          }
        }
        break;
      }
      case 'profile': {
        const prev = await this.#store.getProfile(sender.userId);
        if (prev !== undefined && prev.updatedAt >= env.updatedAt) return undefined;
        // For the context card of requests: a name this device knew that changed.
        nameChanged = prev?.displayName !== undefined && prev.displayName !== env.displayName;
        profile = {
          userId: sender.userId,
          username: await this.#usernameOf(sender.userId),
          updatedAt: env.updatedAt,
          ...(env.displayName === undefined ? {} : { displayName: env.displayName }),
          ...(env.avatar === undefined || env.avatar === null ? {} : { avatar: env.avatar }),
        };
        break;
      }
      default:
        return undefined;
    }
    if (updated.length === 0 && state === undefined && profile === undefined) return undefined;
    return {
      write: (w) => {
        for (const m of updated) w.putMessage(m);
        if (state !== undefined) w.putConversationState(conversationId, state);
        if (profile !== undefined) w.putProfile(profile);
      },
      emit: () => {
        for (const m of updated) this.emit(ClientEvent.MessageUpdated, m);
        if (profile !== undefined) this.emit(ClientEvent.Profile, profileOf(profile));
        if (nameChanged) this.#spawn(() => this.consent.noteNameChange(sender.userId, Date.now()));
        if (state !== undefined) {
          this.#spawn(async () => {
            const c = await this.#store.getConversation(conversationId);
            if (c !== undefined) this.#emitConversation(c);
          });
        }
      },
    };
  }

  async #onCommit(
    item: MailboxItem,
    seen: string,
    group: Group,
    removedSelf: boolean,
    change: MembershipChange & { sender: { userId: string } | undefined },
  ): Promise<void> {
    const conv = await this.#store.getConversation(item.groupId);
    if (conv !== undefined && conv.kind === 'group') {
      // MLS lets any member commit and the server cannot tell an admin: a membership change by a
      // non-admin cannot be undone here, only reported.
      const committer = change.sender?.userId ?? item.sender.userId;
      const leaving = Leaving.safeParse(await this.#store.getKv(leavingKey(item.groupId)));
      const users = forbiddenMembershipChange(
        conv,
        committer,
        change,
        leaving.success ? leaving.data : [],
        group.members().map((m) => m.userId),
      );
      if (users.length > 0)
        this.emit(
          ClientEvent.Error,
          new SdkError(
            'FORBIDDEN',
            `conversation ${item.groupId}: ${committer} is not an admin but changed the membership of ${users.join(', ')}`,
            { details: { conversationId: item.groupId, by: committer, users, change: 'members' } },
          ),
        );
    }
    let next: ConversationRecord | undefined;
    if (conv !== undefined) {
      next = removedSelf
        ? { ...conv, left: true, updatedAt: Date.now() }
        : { ...(await this.#conversationFor(group, conv)), lastSeq: Math.max(conv.lastSeq, item.seq) };
    }
    const effects: PendingEffect[] = [];
    await this.#store.atomic((w) => {
      if (removedSelf) w.deleteGroupState(item.groupId);
      else effects.push(this.#putGroup(w, group));
      w.markSeen(seen);
      if (next !== undefined) w.putConversation(next);
    });
    if (removedSelf) this.#groups.delete(item.groupId);
    for (const e of effects) e();
    this.#ack(item.id);
    if (next !== undefined) this.#emitConversation(next);
    if (conv !== undefined && next !== undefined && !removedSelf) this.#shareIfNewUsers(conv, next);
  }

  /** Someone joined the conversation: they get our profile (others' clients do the same). */
  #shareIfNewUsers(before: ConversationRecord, after: ConversationRecord): void {
    const known = new Set(before.members.map((m) => m.userId));
    if (after.members.some((m) => m.userId !== this.userId && !known.has(m.userId))) {
      this.#spawn(() => this.#shareProfile(after.id));
    }
  }

  async #processWelcome(item: MailboxItem, body: Uint8Array, seen: string): Promise<void> {
    await this.#locks.with(item.groupId, async () => {
      if ((await this.#group(item.groupId)) !== undefined) {
        // Already a member (a repeated welcome): nothing to join.
        await this.#store.atomic((w) => w.markSeen(seen));
        this.#ack(item.id);
        return;
      }
      const adder = item.sender.userId;
      if (adder !== this.userId && (await this.#store.isBlocked(adder))) {
        // A request from a blocked user: never joined, never shown. Recorded as left, so the
        // group's later items are dropped too. (Which user added us is the server's word here.)
        const now = Date.now();
        const hidden: ConversationRecord = (await this.#store.getConversation(item.groupId)) ?? {
          id: item.groupId,
          kind: 'direct',
          title: '',
          members: [],
          admins: [],
          createdAt: now,
          updatedAt: now,
          left: true,
          lastSeq: 0,
        };
        await this.#store.atomic((w) =>
          w.putConversation({ ...hidden, left: true, hidden: true }).markSeen(seen),
        );
        this.#ack(item.id);
        return;
      }
      const r = await joinFromWelcome(this.#ctx, body, async (ref) => {
        const rec = await this.#store.getKeyPackage(ref);
        return rec === undefined
          ? undefined
          : {
              ref: rec.ref,
              publicBytes: rec.publicBytes,
              privateBytes: rec.privateBytes,
              lastResort: rec.lastResort,
            };
      });
      if (!r.ok) {
        await this.#store.atomic((w) => w.markSeen(seen));
        this.#ack(item.id);
        this.emit(
          ClientEvent.Error,
          new SdkError('DECRYPT', `cannot join from welcome: ${r.error.message}`, { cause: r.error }),
        );
        return;
      }
      const { group, usedRef } = r.value;
      if (group.groupId !== item.groupId) {
        await this.#store.atomic((w) => w.markSeen(seen));
        this.#ack(item.id);
        this.emit(
          ClientEvent.Error,
          new SdkError('UNTRUSTED', 'welcome is for another group than the server says'),
        );
        return;
      }
      const used = await this.#store.getKeyPackage(usedRef);
      const existing = await this.#store.getConversation(group.groupId);
      const hint = Hint.safeParse(await this.#store.getKv(hintKey(group.groupId)));
      const now = Date.now();
      const base: ConversationRecord = existing
        ? { ...existing, left: false }
        : {
            id: group.groupId,
            kind: hint.success ? hint.data.kind : 'group',
            title: hint.success ? hint.data.title : '',
            members: [],
            admins: hint.success ? hint.data.admins : [],
            createdAt: now,
            updatedAt: now,
            left: false,
            lastSeq: 0,
          };
      const isSelf = group.groupId === this.#selfGroupId;
      // Someone else started it or added us: until their first meta says what it is, it is
      // pending (nothing shows) unless the rules would let them in either way. Our own devices
      // add us only to conversations they accepted (requests wait: #addOwnDeviceEverywhere).
      let request: ConversationRecord['request'];
      if (
        !isSelf &&
        adder !== this.userId &&
        !hint.success &&
        (existing === undefined || existing.request !== undefined)
      ) {
        const m = await this.consent.decide('messages', adder);
        const g = await this.consent.decide('groups', adder);
        if (m !== 'allow' || g !== 'allow') request = { state: 'pending', by: adder, at: item.sentAt };
      }
      const { request: _old, ...joined } = await this.#conversationFor(group, base);
      const conv: ConversationRecord = isSelf
        ? { ...joined, hidden: true }
        : request === undefined
          ? joined
          : { ...joined, request };
      const effects: PendingEffect[] = [];
      await this.#store.atomic((w) => {
        effects.push(this.#putGroup(w, group));
        w.putConversation(conv).markSeen(seen);
        if (used !== undefined && !used.lastResort) w.deleteKeyPackage(usedRef);
        if (hint.success) w.deleteKv(hintKey(group.groupId));
      });
      for (const e of effects) e();
      this.#ack(item.id);
      this.#emitConversation(conv);
      // The others learn who we are (they may have known us only by username); not strangers
      // (#shareProfile checks), and not the self group.
      if (isSelf) this.#spawn(() => this.#flushUnsyncedConsent());
      else this.#spawn(() => this.#shareProfile(group.groupId));
    });
    await this.#drainPending(item.groupId);
  }
}

/** The conversation as a meta envelope describes it; a meta without `admins` keeps the list. */
function applyMeta(conv: ConversationRecord, env: Extract<Envelope, { type: 'meta' }>): ConversationRecord {
  return { ...conv, kind: env.kind, title: env.title, admins: env.admins ?? conv.admins };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
