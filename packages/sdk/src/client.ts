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
  fromB64,
  type MailboxItem,
  normalizeUsername,
  type OutgoingMessage,
  retryableCodes,
  type ServerEvent,
  toB64,
  USERNAME_RE,
  type UserEntry,
} from '@kolokol/protocol';
import { z } from 'zod';
import { decryptAttachment, encryptAttachment } from './attachments.ts';
import type { BackoffOptions } from './backoff.ts';
import { Connection, type ConnectionState, type OkFrame, type PushFrame } from './connection.ts';
import {
  type AttachmentRef,
  bodyOf,
  decodeEnvelope,
  type Envelope,
  Envelope as EnvelopeSchema,
  encodeEnvelope,
} from './envelope.ts';
import { SdkError } from './errors.ts';
import { TypedEmitter } from './events.ts';
import { HttpApi } from './http.ts';
import { decodeLinkBundle, encodeLinkBundle, formatLinkCode, LINK_AAD, parseLinkCode } from './link.ts';
import type {
  AccountRecord,
  ConversationRecord,
  MessageRecord,
  OutboxRecord,
  UserRef,
} from './store/records.ts';
import type { Store, StoreWriter } from './store/store.ts';
import { defaultTransport, type Transport } from './transport.ts';
import { KeyedMutex, newId, SerialQueue, sleep } from './util.ts';

export type StoredMessage = MessageRecord;
export type Conversation = ConversationRecord;
export type { AttachmentRef, ConnectionState };

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
  Error: 'error',
} as const;
export type ClientEvent = (typeof ClientEvent)[keyof typeof ClientEvent];

export interface ClientEvents {
  message: [StoredMessage];
  conversation: [Conversation];
  connection: [ConnectionState];
  keyPackagesLow: [{ remaining: number }];
  deviceAdded: [{ userId: string; deviceId: string }];
  deviceRevoked: [{ userId: string; deviceId: string }];
  /** The server now shows another identity key for a pinned user; the pinned key stays in force. */
  identityChanged: [{ userId: string; username: string; pinnedKey: Uint8Array; serverKey: Uint8Array }];
  error: [SdkError];
}

export interface ClientOptions {
  store: Store;
  transport?: Transport;
  /** Reconnect policy; tests shorten it. */
  backoff?: BackoffOptions;
  /** One-time key packages kept on the server (topped up below `keyPackageLow`). */
  keyPackageTarget?: number;
  keyPackageLow?: number;
}

const KP_TARGET = 60;
const KP_LOW = 50;
const MAX_BUFFERED = 2000;
const EPOCH_WAIT_MS = 30_000;
const MAX_COMMIT_ATTEMPTS = 8;

const Hint = z.object({ kind: z.enum(['direct', 'group']), title: z.string() });
const hintKey = (groupId: string) => `conversation-hint:${groupId}`;
const seenKey = (deviceId: string, msgId: string) => `${deviceId}:${msgId}`;

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

  readonly #store: Store;
  readonly #account: AccountRecord;
  readonly #ctx: MlsContext;
  readonly #api: HttpApi;
  readonly #conn: Connection;
  readonly #kpTarget: number;
  readonly #kpLow: number;
  readonly #groups = new Map<string, Group>();
  readonly #locks = new KeyedMutex();
  readonly #inbound = new SerialQueue();
  readonly #buffered = new Map<string, MailboxItem[]>();
  #bufferedCount = 0;
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
    this.#api = new HttpApi(i.account.server, i.transport.fetch, (refresh) => this.#token(refresh));
    this.#conn = new Connection(
      i.account.server,
      i.transport,
      {
        token: (refresh) => this.#token(refresh),
        onFrame: (f) => this.#onFrame(f),
        onState: (s) => this.emit(ClientEvent.Connection, s),
        onReady: () => this.#onReady(),
        onFatal: (e) => this.#onFatal(e),
        onProtocolError: (e) => this.emit(ClientEvent.Error, e),
      },
      i.options.backoff === undefined ? {} : { backoff: i.options.backoff },
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
      for (const c of bundle.conversations) w.setKv(hintKey(c.id), { kind: c.kind, title: c.title });
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
      this.#connecting = this.#conn.start();
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
    this.#closed = true;
    this.#conn.stop();
    for (const w of this.#syncWaiters) w();
    this.#syncWaiters = [];
    await Promise.allSettled([...this.#tasks]);
    await this.#inbound.idle();
    // The store belongs to the caller (it may reopen a client on it); we do not close it.
  }

  // ---------------------------------------------------------------------------------------------
  // Conversations

  async conversations(): Promise<Conversation[]> {
    const all = await this.#store.listConversations();
    return all.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async messages(conversationId: string, opts?: { limit?: number }): Promise<StoredMessage[]> {
    return this.#store.listMessages(conversationId, opts);
  }

  /** Finds or creates the 1:1 conversation with `username` (all devices of both accounts). */
  async openDirect(username: string): Promise<Conversation> {
    const peer = await this.#lookupUser(username);
    if (peer.userId === this.userId)
      throw new SdkError('INVALID_ARGUMENT', 'cannot open a direct chat with yourself');
    const existing = (await this.#store.listConversations()).find(
      (c) => c.kind === 'direct' && !c.left && c.peer?.userId === peer.userId,
    );
    if (existing !== undefined) return existing;
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
    const changed = await this.#commitAdd(
      conversationId,
      users.map((u) => u.userId),
      true,
    );
    if (changed) await this.#sendMeta(conv.id);
  }

  async removeMember(conversationId: string, username: string): Promise<void> {
    await this.#liveConversation(conversationId);
    const user = await this.#lookupUser(username);
    if (user.userId === this.userId) {
      await this.leave(conversationId);
      return;
    }
    await this.#commitRemoveUser(conversationId, user.userId);
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

  async sendText(conversationId: string, text: string): Promise<StoredMessage> {
    const result = await this.#enqueueEnvelope(conversationId, { v: 1, type: 'text', text });
    if (result === undefined) throw new SdkError('INTERNAL', 'text message stored no history entry');
    return result;
  }

  async sendAttachment(
    conversationId: string,
    file: { name: string; mime: string; bytes: Uint8Array },
    onProgress?: (sent: number, total: number) => void,
  ): Promise<StoredMessage> {
    await this.#liveConversation(conversationId);
    const enc = encryptAttachment(file.bytes);
    onProgress?.(0, enc.blob.length);
    // fetch has no upload progress; we report the start and the end of the one request.
    const up = await this.#api.uploadAttachment(enc.blob);
    onProgress?.(enc.blob.length, enc.blob.length);
    const result = await this.#enqueueEnvelope(conversationId, {
      v: 1,
      type: 'attachment',
      attachmentId: up.attachmentId,
      key: toB64(enc.key),
      digest: toB64(enc.digest),
      size: file.bytes.length,
      name: file.name,
      mime: file.mime,
    });
    if (result === undefined) throw new SdkError('INTERNAL', 'attachment stored no history entry');
    return result;
  }

  async downloadAttachment(ref: AttachmentRef): Promise<Uint8Array> {
    const blob = await this.#api.downloadAttachment(ref.attachmentId);
    return decryptAttachment(blob, fromB64(ref.key), fromB64(ref.digest));
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
      conversations: convs.filter((c) => !c.left).map((c) => ({ id: c.id, kind: c.kind, title: c.title })),
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
  async safetyNumber(username: string): Promise<{ digits: string; qr: Uint8Array }> {
    const user = await this.#lookupUser(username);
    const pin = await this.#store.getPin(user.userId);
    if (pin === undefined) throw new SdkError('UNTRUSTED', `no pinned key for ${username}`);
    return computeSafetyNumber(
      { userId: this.userId, identityKey: this.#account.identity.publicKey },
      { userId: pin.userId, identityKey: pin.identityKey },
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
    this.emit(ClientEvent.Conversation, conv);
    await this.#commitAdd(groupId, [this.userId, ...users.map((u) => u.userId)], true);
    await this.#sendMeta(groupId);
    return (await this.#store.getConversation(groupId)) ?? conv;
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
          if (next !== undefined) this.emit(ClientEvent.Conversation, next);
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
        if (conv.left) continue;
        try {
          if (await this.#commitAdd(conv.id, [this.userId], false)) await this.#sendMeta(conv.id);
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
    await this.#enqueueEnvelope(groupId, { v: 1, type: 'meta', kind: conv.kind, title: conv.title });
  }

  async #markLeft(groupId: string): Promise<void> {
    const conv = await this.#store.getConversation(groupId);
    await this.#store.atomic((w) => {
      w.deleteGroupState(groupId);
      if (conv !== undefined) w.putConversation({ ...conv, left: true, updatedAt: Date.now() });
    });
    this.#groups.delete(groupId);
    if (conv !== undefined) this.emit(ClientEvent.Conversation, { ...conv, left: true });
  }

  // ---------------------------------------------------------------------------------------------
  // Outbox: application messages

  /** Stores the envelope in the outbox (stable msgId), then sends it after the conversation's earlier sends. */
  async #enqueueEnvelope(conversationId: string, envelope: Envelope): Promise<StoredMessage | undefined> {
    await this.#liveConversation(conversationId);
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

  async #resumeOutbox(): Promise<void> {
    for (const entry of await this.#store.listOutbox()) {
      if (this.#inflight.has(entry.msgId)) continue;
      this.#chainSend(entry).catch((e) => this.emit(ClientEvent.Error, SdkError.from(e)));
    }
  }

  async #deliverOutboxEntry(entry: OutboxRecord): Promise<StoredMessage | undefined> {
    const parsed = EnvelopeSchema.safeParse(entry.envelope);
    const groupId = entry.conversationId;
    const drop = async (err: SdkError) => {
      await this.#store.atomic((w) => w.deleteOutbox(entry));
      throw err;
    };
    if (!parsed.success) return drop(new SdkError('STORE', 'outbox entry holds an invalid envelope'));
    const envelope = parsed.data;
    for (;;) {
      let msg: OutgoingMessage;
      {
        await this.#conn.whenOnline();
        const release = await this.#locks.lock(groupId);
        try {
          const group = await this.#group(groupId);
          if (group === undefined)
            return drop(new SdkError('NOT_GROUP_MEMBER', 'this device is not in the group'));
          const r = await encryptMessage(this.#ctx, group, encodeEnvelope(envelope));
          if (!r.ok) return drop(new SdkError('CRYPTO', r.error.message, { cause: r.error }));
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
          };
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
    const conv = await this.#store.getConversation(entry.conversationId);
    const message: StoredMessage | undefined =
      body === undefined
        ? undefined
        : {
            id: entry.msgId,
            conversationId: entry.conversationId,
            seq: ok.seq,
            from: { userId: this.userId, username: this.username, deviceId: this.deviceId },
            sentAt: entry.createdAt,
            receivedAt: Date.now(),
            body,
            outgoing: true,
          };
    await this.#store.atomic((w) => {
      w.deleteOutbox(entry).markSeen(seenKey(this.deviceId, entry.msgId));
      if (message !== undefined) {
        w.putMessage(message);
        if (conv !== undefined)
          w.putConversation({ ...conv, lastSeq: Math.max(conv.lastSeq, ok.seq), updatedAt: Date.now() });
      }
    });
    if (message !== undefined) this.emit(ClientEvent.Message, message);
    return message;
  }

  // ---------------------------------------------------------------------------------------------
  // Incoming

  #onReady(): void {
    // Unacknowledged items come again on the new connection; what we held back is stale.
    this.#buffered.clear();
    this.#bufferedCount = 0;
    this.#acks = [];
    this.#caughtUp = false;
    this.#spawn(() => this.#topUpKeyPackages());
    this.#spawn(() => this.#reconcileOwnDevices());
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
        }, onError);
        return;
      }
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

  #buffer(item: MailboxItem): void {
    if (this.#bufferedCount >= MAX_BUFFERED) return; // not acked: the server sends it again later
    const list = this.#buffered.get(item.groupId) ?? [];
    if (list.some((i) => i.id === item.id)) return;
    list.push(item);
    this.#buffered.set(item.groupId, list);
    this.#bufferedCount++;
  }

  async #drainBuffered(groupId: string): Promise<void> {
    const list = this.#buffered.get(groupId);
    if (list === undefined) return;
    this.#buffered.delete(groupId);
    this.#bufferedCount -= list.length;
    list.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
    for (const item of list) await this.#safeProcess(item);
  }

  /** Never throws: one bad item is acked and reported; the rest of the mailbox goes on. */
  async #safeProcess(item: MailboxItem): Promise<void> {
    try {
      await this.#processItem(item);
    } catch (e) {
      const err = SdkError.from(e);
      if (err.code === 'STORE' || err.code === 'CLOSED') {
        // Not the item's fault: leave it unacked so that it comes again.
        this.emit(ClientEvent.Error, err);
        return;
      }
      this.emit(
        ClientEvent.Error,
        new SdkError(err.code, `item ${item.id} (${item.kind}): ${err.message}`, { cause: e }),
      );
      this.#ack(item.id);
    }
  }

  async #processItem(item: MailboxItem): Promise<void> {
    const seen = seenKey(item.sender.deviceId, item.msgId);
    if (await this.#store.isSeen(seen)) {
      this.#ack(item.id);
      return;
    }
    let body: Uint8Array;
    try {
      body = fromB64(item.body);
    } catch (cause) {
      throw new SdkError('BAD_RESPONSE', 'item body is not base64url', { cause });
    }
    if (item.kind === 'welcome') {
      await this.#processWelcome(item, body, seen);
      return;
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
      await this.#onCommit(item, seen, p.group, p.removedSelf);
      return 'commit' as const;
    });
    if (outcome === 'drop') {
      this.#ack(item.id);
    } else if (outcome === 'buffer') {
      this.#buffer(item);
    } else if (outcome === 'commit') {
      await this.#drainBuffered(item.groupId);
    }
  }

  async #onApplication(
    item: MailboxItem,
    seen: string,
    group: Group,
    plaintext: Uint8Array,
    sender: { userId: string; deviceId: string },
  ): Promise<void> {
    const decoded = decodeEnvelope(plaintext);
    const conv = await this.#store.getConversation(item.groupId);
    const effects: PendingEffect[] = [];
    let message: StoredMessage | undefined;
    let nextConv: ConversationRecord | undefined;
    let leaver: string | undefined;
    if (decoded.ok) {
      const env = decoded.envelope;
      const body = bodyOf(env);
      if (body !== undefined) {
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
          outgoing: sender.userId === this.userId,
        };
        if (conv !== undefined)
          nextConv = { ...conv, lastSeq: Math.max(conv.lastSeq, item.seq), updatedAt: Date.now() };
      } else if (env.type === 'meta' && conv !== undefined) {
        nextConv = await this.#conversationFor(group, { ...conv, kind: env.kind, title: env.title });
      } else if (env.type === 'leave') {
        leaver = sender.userId;
      }
    }
    await this.#store.atomic((w) => {
      effects.push(this.#putGroup(w, group));
      w.markSeen(seen);
      if (message !== undefined) w.putMessage(message);
      if (nextConv !== undefined) w.putConversation(nextConv);
    });
    for (const e of effects) e();
    this.#ack(item.id);
    if (!decoded.ok) {
      this.emit(ClientEvent.Error, new SdkError('BAD_ENVELOPE', `message ${item.msgId}: ${decoded.reason}`));
    }
    if (message !== undefined) this.emit(ClientEvent.Message, message);
    if (nextConv !== undefined && message === undefined) this.emit(ClientEvent.Conversation, nextConv);
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

  async #onCommit(item: MailboxItem, seen: string, group: Group, removedSelf: boolean): Promise<void> {
    const conv = await this.#store.getConversation(item.groupId);
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
    if (next !== undefined) this.emit(ClientEvent.Conversation, next);
  }

  async #processWelcome(item: MailboxItem, body: Uint8Array, seen: string): Promise<void> {
    await this.#locks.with(item.groupId, async () => {
      if ((await this.#group(item.groupId)) !== undefined) {
        // Already a member (a repeated welcome): nothing to join.
        await this.#store.atomic((w) => w.markSeen(seen));
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
            createdAt: now,
            updatedAt: now,
            left: false,
            lastSeq: 0,
          };
      const conv = await this.#conversationFor(group, base);
      const effects: PendingEffect[] = [];
      await this.#store.atomic((w) => {
        effects.push(this.#putGroup(w, group));
        w.putConversation(conv).markSeen(seen);
        if (used !== undefined && !used.lastResort) w.deleteKeyPackage(usedRef);
        if (hint.success) w.deleteKv(hintKey(group.groupId));
      });
      for (const e of effects) e();
      this.#ack(item.id);
      this.emit(ClientEvent.Conversation, conv);
    });
    await this.#drainBuffered(item.groupId);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
