/**
 * The app's state around one KolokolClient: chats, loaded messages, uploads and downloads in
 * flight, typing, connection, toasts. React reads it through useMessenger() (a version counter
 * with useSyncExternalStore); nothing here renders.
 */

import { CONVERSATION_WINDOW } from '@kolokol/scam';
import {
  type Call,
  type CallRecord,
  ClientEvent,
  type ConnectionState,
  type KolokolClient,
  SdkError,
} from '@kolokol/sdk';
import { CallController } from './calls.ts';
import { ConsentController } from './consent.ts';
import { catalogs, type Key, type Language, type Vars } from './i18n/catalog.ts';
import {
  countUnread,
  emptyLocal,
  type LocalData,
  type Notice,
  type Prefs,
  parseLocal,
  parsePrefs,
} from './lib/local.ts';
import {
  attachmentOf,
  type Chat,
  downloadAttachment,
  ExtEvent,
  ext,
  has,
  type Message,
  onExt,
  type Profile,
  type Settings,
  sendAttachment,
  sendText,
  systemOf,
} from './sdk/ext.ts';

export type Pending = {
  id: string;
  conversationId: string;
  createdAt: number;
  state: 'sending' | 'failed' | 'cancelled';
  replyTo?: string;
} & (
  | { kind: 'text'; text: string }
  | {
      kind: 'file';
      name: string;
      mime: string;
      size: number;
      done: number;
      total: number;
      abort: AbortController;
      file: File;
    }
);

export interface Download {
  done: number;
  total: number;
  url?: string;
  error?: boolean;
  abort?: AbortController;
}

export interface Toast {
  id: string;
  text: string;
  conversationId?: string;
  /** A link of the app's own (a request, the requests list); conversationId wins over it. */
  href?: string;
  tone: 'info' | 'error';
}

export interface ServerInfo {
  name: string;
  registration: 'open' | 'invite';
  maxAttachmentBytes: number;
}

const PAGE = 200;
const TYPING_MS = 6000;
const PREFS_KEY = 'kolokol:prefs';

export function loadPrefs(): Prefs {
  try {
    return parsePrefs(JSON.parse(localStorage.getItem(PREFS_KEY) ?? 'null'));
  } catch {
    return parsePrefs(null);
  }
}

export function savePrefs(p: Prefs): void {
  localStorage.setItem(PREFS_KEY, JSON.stringify(p));
}

export async function fetchServerInfo(origin: string): Promise<ServerInfo | undefined> {
  try {
    // A frozen front must not hold the app at its start: without an answer it opens on defaults.
    const res = await fetch(`${origin}/v1/info`, { signal: AbortSignal.timeout(8000) });
    if (!res.ok) return undefined;
    const v: unknown = await res.json();
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    return {
      name: typeof o.name === 'string' ? o.name : 'Kolokol',
      registration: o.registration === 'invite' ? 'invite' : 'open',
      maxAttachmentBytes: typeof o.maxAttachmentBytes === 'number' ? o.maxAttachmentBytes : 100 * 1024 * 1024,
    };
  } catch {
    return undefined;
  }
}

let idCounter = 0;
const localId = (p: string) => `${p}-${Date.now().toString(36)}-${(++idCounter).toString(36)}`;

export class Messenger {
  readonly client: KolokolClient;
  version = 0;
  chats: Chat[] = [];
  messages = new Map<string, Message[]>();
  limits = new Map<string, number>();
  pending: Pending[] = [];
  downloads = new Map<string, Download>();
  typing = new Map<string, Map<string, { name: string; until: number }>>();
  /** What the SDK says, shown as 'offline' while the browser itself says it is offline. */
  sdkConnection: ConnectionState['state'] = 'connecting';
  browserOnline = navigator.onLine;
  get connection(): ConnectionState['state'] {
    return this.browserOnline ? this.sdkConnection : 'offline';
  }
  toasts: Toast[] = [];
  local: LocalData;
  prefs: Prefs;
  profile: Profile;
  profiles = new Map<string, Profile>();
  /** attachmentId -> object URL of downloaded avatars ('' while loading). */
  avatars = new Map<string, string>();
  info: ServerInfo | undefined;
  activeChat: string | undefined;
  revoked = false;
  lang: Language = 'en';
  readonly calls: CallController;
  readonly consent: ConsentController;
  readonly #listeners = new Set<() => void>();
  readonly #off: (() => void)[] = [];
  #typingTimer: ReturnType<typeof setInterval> | undefined;
  #sentTyping = new Map<string, number>();

  constructor(client: KolokolClient, prefs: Prefs) {
    this.client = client;
    this.prefs = prefs;
    this.local = this.#readLocal();
    this.calls = new CallController({
      client,
      changed: () => this.changed(),
      onCallEnded: (call, record) => this.#onCallEnded(call, record),
    });
    this.consent = new ConsentController({
      client,
      changed: () => this.changed(),
      toast: (text, tone, href) => this.toast(text, tone, undefined, href),
      nameOfUser: (u) => u.displayName ?? this.nameOf(u.username),
      isContact: (userId) => this.local.contacts.some((u) => u.userId === userId),
      textsFrom: async (conversationId, userId, limit) =>
        (await client.messages(conversationId, { limit: 50 }))
          .filter((x) => x.from.userId === userId && x.body.type === 'text')
          .slice(0, limit)
          .map((x) => (x.body.type === 'text' ? x.body.text : '')),
      say: {
        request: (name) => this.t('requests.toastMessage', { name }),
        invitation: (name) => this.t('requests.toastGroup', { name }),
        callRequest: (name) => this.t('requests.toastCall', { name }),
        warning: (reason) => this.t('moderation.warningToast', { reason }),
        lifted: () => this.t('moderation.lifted'),
      },
    });
    this.profile = {
      userId: client.userId,
      username: client.username,
      ...(this.local.displayName === undefined ? {} : { displayName: this.local.displayName }),
    };
  }

  // ---- subscription -----------------------------------------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  changed(): void {
    this.version++;
    for (const l of this.#listeners) l();
  }

  t(key: Key, vars?: Vars): string {
    const template = catalogs[this.lang][key];
    return vars === undefined
      ? template
      : template.replace(/\{\{(\w+)\}\}/g, (m, n: string) => String(vars[n] ?? m));
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    const c = this.client;
    const on = <E extends Parameters<KolokolClient['on']>[0]>(
      event: E,
      fn: Parameters<KolokolClient['on']>[1],
    ) => {
      c.on(event, fn as never);
      this.#off.push(() => c.off(event, fn as never));
    };
    on(ClientEvent.Message, ((m: Message) => this.#onMessage(m)) as never);
    on(ClientEvent.Conversation, ((conv: Chat) => this.#onConversation(conv)) as never);
    on(ClientEvent.Connection, ((s: ConnectionState) => {
      this.sdkConnection = s.state;
      this.changed();
    }) as never);
    // The extended SDK inserts its own notices (SafetyNumberChanged); the first one only reports.
    if (!Object.values(ClientEvent as Record<string, string>).includes('safetyNumberChanged'))
      on(ClientEvent.IdentityChanged, ((e: { userId: string; username: string }) =>
        this.#onSafetyChanged(e.userId, e.username)) as never);
    on(ClientEvent.DeviceRevoked, ((e: { userId: string; deviceId: string }) => {
      if (e.deviceId === c.deviceId) {
        this.revoked = true;
        this.changed();
      }
    }) as never);
    on(ClientEvent.DeviceAdded, ((e: { userId: string; deviceId: string }) => {
      if (e.userId === c.userId && e.deviceId !== c.deviceId) this.toast(this.t('notify.deviceLinked'));
    }) as never);
    on(ClientEvent.Error, ((e: SdkError) => {
      // Both stop the connection for good: this browser can no longer act for the account.
      if (e.code === 'DEVICE_REVOKED' || e.code === 'SESSION_REVOKED') {
        this.revoked = true;
        this.changed();
      }
      console.warn('kolokol:', e.code, e.message);
    }) as never);
    this.#off.push(onExt(c, ExtEvent.MessageUpdated, (p) => this.#onMessage(p as Message)));
    this.#off.push(onExt(c, ExtEvent.Typing, (p) => this.#onTyping(p)));
    this.#off.push(onExt(c, ExtEvent.Profile, (p) => this.#setProfile(p as Profile)));
    this.#off.push(
      onExt(c, ExtEvent.SafetyNumberChanged, (p) => {
        const e = p as { userId?: string };
        if (typeof e?.userId === 'string') {
          const name = this.nameOf(this.usernameOf(e.userId));
          this.local.verified[this.usernameOf(e.userId)] = false;
          this.saveLocal();
          this.toast(this.t('notify.safetyChanged', { name }), 'error');
          void this.reloadChats();
        }
      }),
    );
    this.calls.start();
    this.consent.start();
    this.#typingTimer = setInterval(() => this.#expireTyping(), 1000);
    const onNet = () => {
      this.browserOnline = navigator.onLine;
      this.changed();
    };
    window.addEventListener('online', onNet);
    window.addEventListener('offline', onNet);
    this.#off.push(() => {
      window.removeEventListener('online', onNet);
      window.removeEventListener('offline', onNet);
    });
    await this.reloadChats();
    void this.#loadExtras();
    c.connect().catch((e: unknown) => {
      const err = SdkError.from(e);
      if (err.code === 'DEVICE_REVOKED' || err.code === 'SESSION_REVOKED') {
        this.revoked = true;
        this.changed();
      }
    });
  }

  async #loadExtras(): Promise<void> {
    const x = ext(this.client);
    try {
      if (x.myProfile !== undefined) this.#setProfile(await x.myProfile());
      if (x.settings !== undefined) {
        const s = await x.settings();
        this.prefs = {
          ...this.prefs,
          readReceipts: s.readReceipts,
          typingIndicators: s.typingIndicators,
          theme: s.theme,
          language: s.language ?? this.prefs.language,
        };
      }
      if (x.contacts !== undefined)
        this.local.contacts = (await x.contacts()).map((u) => ({ userId: u.userId, username: u.username }));
      if (x.blocked !== undefined)
        this.local.blocked = (await x.blocked()).map((userId) => ({
          userId,
          username: this.usernameOf(userId),
        }));
      if (x.profile !== undefined) {
        const ids = new Set(this.chats.flatMap((c) => c.members.map((u) => u.userId)));
        ids.delete(this.client.userId);
        for (const id of ids) {
          const p = await x.profile(id);
          if (p !== undefined) this.#setProfile(p);
        }
      }
    } catch (e) {
      console.warn('kolokol: loading profiles and settings failed', e);
    }
    this.changed();
  }

  #setProfile(p: Profile): void {
    if (typeof p?.username !== 'string') return;
    if (p.username === this.client.username) this.profile = { ...this.profile, ...p };
    else this.profiles.set(p.username, p);
    const ref = p.avatar;
    if (ref !== undefined && !this.avatars.has(ref.attachmentId)) {
      this.avatars.set(ref.attachmentId, '');
      downloadAttachment(this.client, ref, () => {}, new AbortController().signal)
        .then((bytes) => {
          this.avatars.set(
            ref.attachmentId,
            URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: ref.mime })),
          );
          this.changed();
        })
        .catch(() => this.avatars.delete(ref.attachmentId));
    }
    this.changed();
  }

  /** A username for a userId, from the chats we share (the SDK's events name users by id). */
  usernameOf(userId: string): string {
    if (userId === this.client.userId) return this.client.username;
    for (const c of this.chats) {
      const u =
        c.members.find((x) => x.userId === userId) ?? (c.peer?.userId === userId ? c.peer : undefined);
      if (u !== undefined) return u.username;
    }
    return this.local.contacts.find((u) => u.userId === userId)?.username ?? userId;
  }

  userIdOf(username: string): string | undefined {
    if (username === this.client.username) return this.client.userId;
    for (const c of this.chats) {
      const u = c.members.find((x) => x.username === username);
      if (u !== undefined) return u.userId;
    }
    return this.local.contacts.find((u) => u.username === username)?.userId;
  }

  async stop(): Promise<void> {
    for (const off of this.#off) off();
    this.calls.stop();
    this.consent.stop();
    if (this.#typingTimer !== undefined) clearInterval(this.#typingTimer);
    for (const d of this.downloads.values()) if (d.url !== undefined) URL.revokeObjectURL(d.url);
    await this.client.close();
  }

  // ---- local data --------------------------------------------------------------------------------

  #localKey(): string {
    return `kolokol:local:${this.client.userId}`;
  }

  #readLocal(): LocalData {
    try {
      return parseLocal(JSON.parse(localStorage.getItem(this.#localKey()) ?? 'null'));
    } catch {
      return emptyLocal();
    }
  }

  saveLocal(): void {
    localStorage.setItem(this.#localKey(), JSON.stringify(this.local));
    this.changed();
  }

  setPrefs(p: Partial<Prefs>): void {
    this.prefs = { ...this.prefs, ...p };
    savePrefs(this.prefs);
    const x = ext(this.client);
    if (x.updateSettings !== undefined) {
      const patch: Partial<Settings> = {
        ...(p.readReceipts === undefined ? {} : { readReceipts: p.readReceipts }),
        ...(p.typingIndicators === undefined ? {} : { typingIndicators: p.typingIndicators }),
        ...(p.theme === undefined ? {} : { theme: p.theme }),
        ...(p.language === undefined ? {} : { language: p.language === 'auto' ? undefined : p.language }),
      };
      void x.updateSettings(patch).catch((e: unknown) => console.warn(e));
    }
    this.changed();
  }

  // ---- chats -------------------------------------------------------------------------------------

  async reloadChats(): Promise<void> {
    const convs = (await this.client.conversations()) as Chat[];
    this.chats = convs;
    await Promise.all(convs.map((c) => this.loadMessages(c.id)));
    for (const c of convs)
      if (c.kind === 'direct' && c.peer !== undefined)
        void this.consent.checkScam(c.id, c.peer.userId).catch(() => {});
    this.#sortChats();
    this.changed();
  }

  async loadMessages(id: string, more = false): Promise<void> {
    const limit = (this.limits.get(id) ?? PAGE) + (more ? PAGE : 0);
    this.limits.set(id, limit);
    const list = (await this.client.messages(id, { limit })) as Message[];
    this.messages.set(id, list);
    this.changed();
  }

  hasMore(id: string): boolean {
    return (this.messages.get(id)?.length ?? 0) >= (this.limits.get(id) ?? PAGE);
  }

  chat(id: string): Chat | undefined {
    return this.chats.find((c) => c.id === id);
  }

  lastMessage(c: Chat): Message | undefined {
    const list = this.messages.get(c.id) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i];
      if (m !== undefined && systemOf(m) === undefined) return m;
    }
    return undefined;
  }

  #sortChats(): void {
    const at = (c: Chat) => Math.max(c.createdAt, this.lastMessage(c)?.sentAt ?? 0);
    this.chats.sort((a, b) => at(b) - at(a));
  }

  unread(c: Chat): number {
    if (typeof c.unread === 'number' && this.supports('markRead')) return c.unread;
    const list = (this.messages.get(c.id) ?? []).filter(
      (m) => !this.isBlocked(m.from.username) && systemOf(m) === undefined,
    );
    return countUnread(list, this.local.lastRead[c.id]);
  }

  totalUnread(): number {
    return this.chats.reduce((n, c) => n + (c.left ? 0 : this.unread(c)), 0);
  }

  /** Display name for a chat: its title, or the peer's display name / username. */
  chatTitle(c: Chat): string {
    if (c.kind === 'group') return c.title || c.members.map((m) => m.username).join(', ');
    const peer = c.peer ?? c.members.find((m) => m.userId !== this.client.userId);
    return peer === undefined ? c.title || '—' : this.nameOf(peer.username);
  }

  nameOf(username: string): string {
    if (username === this.client.username) return this.profile.displayName || username;
    return this.profiles.get(username)?.displayName || username;
  }

  avatarOf(username: string): string | undefined {
    const p = username === this.client.username ? this.profile : this.profiles.get(username);
    const ref = p?.avatar;
    if (ref !== undefined) return this.avatars.get(ref.attachmentId) || undefined;
    return username === this.client.username ? this.local.avatar : undefined;
  }

  setActive(id: string | undefined): void {
    this.activeChat = id;
    if (id === undefined) return;
    this.markRead(id);
    // "New message from …" has nothing left to say once that chat is open.
    this.#dropToasts((t) => t.conversationId === id);
  }

  markRead(id: string): void {
    const list = this.messages.get(id) ?? [];
    const last = list[list.length - 1];
    if (last === undefined) return;
    if ((this.local.lastRead[id] ?? 0) < last.seq) {
      this.local.lastRead[id] = last.seq;
      this.saveLocal();
    }
    const x = ext(this.client);
    const c = this.chat(id);
    if (x.markRead !== undefined && c !== undefined && (c.unread ?? 0) > 0) {
      c.unread = 0;
      void x.markRead(id).catch((e: unknown) => console.warn(e));
      this.changed();
    }
  }

  draft(id: string): string {
    return this.chat(id)?.draft ?? this.local.drafts[id] ?? '';
  }

  setDraft(id: string, text: string): void {
    if (this.draft(id) === text) return;
    if (text === '') delete this.local.drafts[id];
    else this.local.drafts[id] = text;
    const chat = this.chat(id);
    if (chat !== undefined) chat.draft = text;
    this.changed();
    localStorage.setItem(this.#localKey(), JSON.stringify(this.local));
    const x = ext(this.client);
    if (x.setDraft !== undefined) void x.setDraft(id, text).catch((e: unknown) => console.warn(e));
  }

  #onConversation(conv: Chat): void {
    const i = this.chats.findIndex((c) => c.id === conv.id);
    if (i >= 0) this.chats[i] = { ...this.chats[i], ...conv };
    else {
      this.chats.push(conv);
      void this.loadMessages(conv.id);
    }
    this.#sortChats();
    this.changed();
  }

  #onMessage(m: Message): void {
    if (typeof m?.conversationId !== 'string') return;
    const list = [...(this.messages.get(m.conversationId) ?? [])];
    const i = list.findIndex((x) => x.id === m.id);
    const isNew = i < 0;
    if (isNew) {
      list.push(m);
      list.sort((a, b) => a.seq - b.seq);
    } else list[i] = { ...list[i], ...m };
    this.messages.set(m.conversationId, list);
    // Someone who sent a message stopped typing.
    this.typing.get(m.conversationId)?.delete(m.from.userId);
    if (!this.chats.some((c) => c.id === m.conversationId)) void this.reloadChats();
    this.#sortChats();
    const chat = this.chat(m.conversationId);
    if (isNew && chat !== undefined && typeof chat.unread === 'number') {
      // Mirrors the SDK's own count (it emits no conversation event per message).
      chat.unread = m.outgoing ? 0 : chat.unread + (systemOf(m) === undefined ? 1 : 0);
    }
    // The classifier reads a stranger's first messages only: later ones cannot change its verdict.
    if (
      isNew &&
      !m.outgoing &&
      chat?.kind === 'direct' &&
      m.body.type === 'text' &&
      list.filter((x) => x.from.userId === m.from.userId).length <= CONVERSATION_WINDOW
    )
      void this.consent.checkScam(m.conversationId, m.from.userId).catch(() => {});
    if (isNew && !m.outgoing && !this.isBlocked(m.from.username) && systemOf(m) === undefined) {
      const visible = document.visibilityState === 'visible' && document.hasFocus();
      if (this.activeChat === m.conversationId && visible) this.markRead(m.conversationId);
      else this.#notify(m);
    }
    this.changed();
  }

  #notify(m: Message): void {
    const chat = this.chat(m.conversationId);
    const name = this.nameOf(m.from.username);
    const title = chat?.kind === 'group' ? `${name} · ${this.chatTitle(chat)}` : name;
    if (document.visibilityState !== 'visible') {
      // The app is open in a background tab: a system notification without the text, like push.
      if (
        'Notification' in window &&
        Notification.permission === 'granted' &&
        this.prefs.inAppNotifications
      ) {
        navigator.serviceWorker?.ready
          .then((reg) =>
            reg.showNotification(this.t('notify.newMessage'), {
              tag: m.conversationId,
              data: { conversationId: m.conversationId },
            }),
          )
          .catch(() => {});
      }
      return;
    }
    if (this.prefs.inAppNotifications)
      this.toast(this.t('notify.from', { name: title }), 'info', m.conversationId);
  }

  #onTyping(p: unknown): void {
    if (!this.prefs.typingIndicators) return;
    const e = p as { conversationId?: string; userId?: string; typing?: boolean };
    if (typeof e?.conversationId !== 'string' || typeof e.userId !== 'string') return;
    if (e.userId === this.client.userId) return;
    const map = this.typing.get(e.conversationId) ?? new Map();
    if (e.typing === false) map.delete(e.userId);
    else map.set(e.userId, { name: this.nameOf(this.usernameOf(e.userId)), until: Date.now() + TYPING_MS });
    this.typing.set(e.conversationId, map);
    this.changed();
  }

  #expireTyping(): void {
    const now = Date.now();
    let any = false;
    for (const map of this.typing.values())
      for (const [k, v] of map)
        if (v.until < now) {
          map.delete(k);
          any = true;
        }
    if (any) this.changed();
  }

  /** Tells the chat we type, at most every 3 s; `false` when the composer empties or sends. */
  typingChanged(id: string, typing: boolean): void {
    const x = ext(this.client);
    if (x.setTyping === undefined || !this.prefs.typingIndicators) return;
    const last = this.#sentTyping.get(id) ?? 0;
    if (typing && Date.now() - last < 3000) return;
    this.#sentTyping.set(id, typing ? Date.now() : 0);
    void x.setTyping(id, typing).catch(() => {});
  }

  #onSafetyChanged(userId: string, username: string): void {
    const name = this.nameOf(username);
    let added = false;
    for (const c of this.chats) {
      if (c.left || !c.members.some((m) => m.username === username || m.userId === userId)) continue;
      const list = this.local.notices[c.id] ?? [];
      // One notice per change, not one per failed operation that reports it.
      const last = list[list.length - 1];
      if (last !== undefined && last.name === name && Date.now() - last.at < 60_000) continue;
      const n: Notice = { id: localId('notice'), at: Date.now(), kind: 'safetyChanged', name };
      this.local.notices[c.id] = [...list, n];
      added = true;
    }
    if (this.local.verified[username] === true) this.local.verified[username] = false;
    this.saveLocal();
    if (added) this.toast(this.t('notify.safetyChanged', { name }), 'error');
  }

  // ---- calls -------------------------------------------------------------------------------------

  /** How a call ended, said once: the history keeps the record, the chat the missed-call notice. */
  #onCallEnded(call: Call, record: CallRecord): void {
    const name = this.nameOf(record.peer.username);
    if (record.missed) {
      this.toast(this.t('call.missedFrom', { name }), 'info', record.conversationId);
      return;
    }
    if (call.direction !== 'outgoing') return;
    const key =
      record.reason === 'declined'
        ? 'call.endedDeclined'
        : record.reason === 'busy'
          ? 'call.endedBusy'
          : record.reason === 'timeout'
            ? 'call.endedNoAnswer'
            : record.reason === 'failed'
              ? 'call.endedFailed'
              : undefined;
    if (key !== undefined) this.toast(this.t(key, { name }), record.reason === 'failed' ? 'error' : 'info');
  }

  async startCall(conversationId: string, video: boolean): Promise<void> {
    try {
      await this.calls.startCall(conversationId, video);
    } catch (e) {
      this.toast(`${this.t('call.startFailed')} ${this.errorText(e)}`, 'error');
    }
  }

  // ---- toasts ------------------------------------------------------------------------------------

  toast(text: string, tone: Toast['tone'] = 'info', conversationId?: string, href?: string): void {
    const t: Toast = {
      id: localId('toast'),
      text,
      tone,
      ...(conversationId === undefined ? {} : { conversationId }),
      ...(href === undefined ? {} : { href }),
    };
    this.toasts = [...this.toasts.slice(-3), t];
    this.changed();
    setTimeout(() => this.dismiss(t.id), tone === 'error' ? 9000 : 5000);
  }

  dismiss(id: string): void {
    this.#dropToasts((t) => t.id === id);
  }

  #dropToasts(which: (t: Toast) => boolean): void {
    if (!this.toasts.some(which)) return;
    this.toasts = this.toasts.filter((t) => !which(t));
    this.changed();
  }

  errorText(e: unknown): string {
    const err = SdkError.from(e);
    if (err.code === 'NETWORK' || err.code === 'TIMEOUT') return this.t('err.network');
    if (err.code === 'NOT_GROUP_MEMBER') return this.t('err.notMember');
    const d = err.details;
    if (err.code === 'RATE_LIMITED' && d?.limit === 'new-account-strangers')
      return this.t('err.newAccountLimit', {
        count: typeof d.strangersPerDay === 'number' ? d.strangersPerDay : '?',
        minutes: typeof d.retryAfterSeconds === 'number' ? Math.ceil(d.retryAfterSeconds / 60) : '?',
      });
    return this.t('err.generic', { message: err.message });
  }

  // ---- sending -----------------------------------------------------------------------------------

  pendingFor(id: string): Pending[] {
    return this.pending.filter((p) => p.conversationId === id);
  }

  #dropPending(id: string): void {
    this.pending = this.pending.filter((p) => p.id !== id);
    this.changed();
  }

  #updatePending(id: string, patch: Partial<Pending>): void {
    this.pending = this.pending.map((p) => (p.id === id ? ({ ...p, ...patch } as Pending) : p));
    this.changed();
  }

  async sendText(conversationId: string, text: string, replyTo?: string): Promise<void> {
    const p: Pending = {
      id: localId('send'),
      conversationId,
      createdAt: Date.now(),
      state: 'sending',
      kind: 'text',
      text,
      ...(replyTo === undefined ? {} : { replyTo }),
    };
    this.pending = [...this.pending, p];
    this.setDraft(conversationId, '');
    this.typingChanged(conversationId, false);
    this.changed();
    try {
      const m = (await sendText(this.client, conversationId, text, replyTo)) as Message;
      this.#onMessage(m);
      this.#dropPending(p.id);
    } catch (e) {
      this.#updatePending(p.id, { state: 'failed' });
      this.toast(this.errorText(e), 'error');
    }
  }

  retry(id: string): void {
    const p = this.pending.find((x) => x.id === id);
    if (p === undefined) return;
    this.#dropPending(id);
    if (p.kind === 'text') void this.sendText(p.conversationId, p.text, p.replyTo);
    else void this.sendFile(p.conversationId, p.file);
  }

  discard(id: string): void {
    const p = this.pending.find((x) => x.id === id);
    if (p?.kind === 'file') p.abort.abort();
    this.#dropPending(id);
  }

  /** Checks the size first, so a too-large file fails at once with a clear message, not after uploading. */
  async sendFile(conversationId: string, file: File, nameOverride?: string): Promise<void> {
    const max = this.info?.maxAttachmentBytes ?? 100 * 1024 * 1024;
    const name = nameOverride ?? (file.name || 'file');
    if (file.size > max) {
      this.toast(
        this.t('err.tooLarge', { name, size: this.bytes(file.size), max: this.bytes(max) }),
        'error',
      );
      return;
    }
    const abort = new AbortController();
    const p: Pending = {
      id: localId('upload'),
      conversationId,
      createdAt: Date.now(),
      state: 'sending',
      kind: 'file',
      name,
      mime: file.type || 'application/octet-stream',
      size: file.size,
      done: 0,
      total: file.size,
      abort,
      file,
    };
    this.pending = [...this.pending, p];
    this.changed();
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      if (abort.signal.aborted) return;
      const m = (await sendAttachment(
        this.client,
        conversationId,
        { name, mime: p.mime, bytes },
        (done, total) => this.#updatePending(p.id, { done, total }),
        abort.signal,
      )) as Message;
      if (abort.signal.aborted) return;
      // Keep a local copy for the preview: no need to download what we just sent.
      if (attachmentOf(m) !== undefined)
        this.downloads.set(m.id, { done: file.size, total: file.size, url: URL.createObjectURL(file) });
      this.#onMessage(m);
      this.#dropPending(p.id);
    } catch (e) {
      if (abort.signal.aborted) {
        this.#dropPending(p.id);
        return;
      }
      this.#updatePending(p.id, { state: 'failed' });
      this.toast(`${this.t('err.uploadFailed', { name })} ${this.errorText(e)}`, 'error');
    }
  }

  bytes(n: number): string {
    return new Intl.NumberFormat(this.lang, {
      style: 'unit',
      unit: n >= 1024 * 1024 ? 'megabyte' : 'kilobyte',
      unitDisplay: 'short',
      maximumFractionDigits: 1,
    }).format(n >= 1024 * 1024 ? n / 1024 / 1024 : n / 1024);
  }

  async download(m: Message): Promise<string | undefined> {
    const ref = attachmentOf(m);
    if (ref === undefined) return undefined;
    const existing = this.downloads.get(m.id);
    if (existing?.url !== undefined) return existing.url;
    if (existing !== undefined && existing.error !== true) return undefined; // in flight
    const abort = new AbortController();
    this.downloads.set(m.id, { done: 0, total: ref.size, abort });
    this.changed();
    try {
      const bytes = await downloadAttachment(
        this.client,
        ref,
        (done, total) => {
          const d = this.downloads.get(m.id);
          if (d !== undefined) {
            this.downloads.set(m.id, { ...d, done, total });
            this.changed();
          }
        },
        abort.signal,
      );
      if (abort.signal.aborted) return undefined;
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: ref.mime }));
      this.downloads.set(m.id, { done: ref.size, total: ref.size, url });
      this.changed();
      return url;
    } catch (e) {
      if (abort.signal.aborted) {
        this.downloads.delete(m.id);
      } else {
        this.downloads.set(m.id, { done: 0, total: ref.size, error: true });
        console.warn('kolokol: download failed', e);
      }
      this.changed();
      return undefined;
    }
  }

  cancelDownload(id: string): void {
    this.downloads.get(id)?.abort?.abort();
    this.downloads.delete(id);
    this.changed();
  }

  // ---- people ------------------------------------------------------------------------------------

  isBlocked(username: string): boolean {
    return this.local.blocked.some((u) => u.username === username);
  }

  async block(user: { userId: string; username: string }, blocked: boolean): Promise<void> {
    const x = ext(this.client);
    if (blocked && x.block !== undefined) await x.block(user.userId);
    if (!blocked && x.unblock !== undefined) await x.unblock(user.userId);
    this.noteBlocked(user, blocked);
  }

  /** This browser's list only, for a block the SDK already made (a request's Block). */
  noteBlocked(user: { userId: string; username: string }, blocked: boolean): void {
    const rest = this.local.blocked.filter((u) => u.userId !== user.userId);
    this.local.blocked = blocked ? [...rest, { userId: user.userId, username: user.username }] : rest;
    this.saveLocal();
  }

  isContact(username: string): boolean {
    return this.local.contacts.some((u) => u.username === username);
  }

  /** Adds by username (looked up, so a typo fails here and not later), removes by the stored entry. */
  async setContact(username: string, on: boolean): Promise<void> {
    const x = ext(this.client);
    const rest = this.local.contacts.filter((u) => u.username !== username);
    if (on) {
      let ref: { userId: string; username: string } | undefined;
      if (x.addContact !== undefined) ref = await x.addContact(username);
      else if (x.searchUser !== undefined) ref = await x.searchUser(username);
      else ref = { userId: this.userIdOf(username) ?? username, username };
      if (ref === undefined) throw new SdkError('NOT_FOUND', `no user ${username}`);
      this.local.contacts = [...rest, { userId: ref.userId, username: ref.username }].sort((a, b) =>
        a.username.localeCompare(b.username),
      );
    } else {
      const entry = this.local.contacts.find((u) => u.username === username);
      if (entry !== undefined && x.removeContact !== undefined) await x.removeContact(entry.userId);
      this.local.contacts = rest;
    }
    this.saveLocal();
  }

  isVerified(username: string): boolean {
    const direct = this.chats.find((c) => c.kind === 'direct' && c.peer?.username === username);
    if (typeof direct?.verified === 'boolean') return direct.verified;
    return this.local.verified[username] === true;
  }

  async setVerified(username: string, verified: boolean): Promise<void> {
    const x = ext(this.client);
    const userId = this.userIdOf(username);
    if (x.markVerified !== undefined && userId !== undefined) await x.markVerified(userId, verified);
    this.local.verified[username] = verified;
    for (const c of this.chats)
      if (c.kind === 'direct' && c.peer?.username === username) c.verified = verified;
    this.saveLocal();
  }

  supports(feature: Parameters<typeof has>[1]): boolean {
    return has(this.client, feature);
  }
}
