/**
 * The SDK surface the web app uses beyond the first client core: profiles, contacts, blocking,
 * replies, reactions, edits, deletes, receipts, typing, drafts, settings, verification, push,
 * account deletion. These landed in @kolokol/sdk while the app was being built, so every call goes
 * through this one file and is feature-checked (`has`): a screen offers an action only when the
 * client it runs on has it, and local fallbacks (messenger.ts) cover the rest.
 */
import type { AttachmentRef, Conversation, KolokolClient, StoredMessage } from '@kolokol/sdk';

export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'read';

/** StoredMessage plus the fields the extended SDK adds (optional here, so both versions fit). */
export type Message = StoredMessage & {
  replyTo?: string | undefined;
  /** emoji -> userIds */
  reactions?: Record<string, string[]> | undefined;
  editedAt?: number | undefined;
  deleted?: boolean | undefined;
  status?: MessageStatus | undefined;
};

export type Chat = Conversation & {
  unread?: number | undefined;
  lastMessage?: { text: string; at: number; from: string } | undefined;
  draft?: string | undefined;
  verified?: boolean | undefined;
};

export interface Profile {
  userId: string;
  username: string;
  displayName?: string | undefined;
  avatar?: AttachmentRef | undefined;
}

export interface Settings {
  readReceipts: boolean;
  typingIndicators: boolean;
  theme: 'system' | 'light' | 'dark';
  language?: 'en' | 'ru' | undefined;
}

export interface UserRef {
  userId: string;
  username: string;
}

type Progress = (done: number, total: number) => void;

interface Extended {
  setProfile(p: {
    displayName?: string;
    avatar?: { mime: string; bytes: Uint8Array } | null;
  }): Promise<unknown>;
  profile(userId: string): Promise<Profile | undefined>;
  myProfile(): Promise<Profile>;
  contacts(): Promise<(UserRef & { displayName?: string; verified?: boolean })[]>;
  addContact(username: string): Promise<UserRef>;
  removeContact(userId: string): Promise<unknown>;
  block(userId: string): Promise<unknown>;
  unblock(userId: string): Promise<unknown>;
  blocked(): Promise<string[]>;
  searchUser(username: string): Promise<UserRef | undefined>;
  react(conversationId: string, messageId: string, emoji: string | null): Promise<unknown>;
  editMessage(conversationId: string, messageId: string, text: string): Promise<unknown>;
  deleteForEveryone(conversationId: string, messageId: string): Promise<unknown>;
  markRead(conversationId: string): Promise<unknown>;
  setTyping(conversationId: string, typing: boolean): Promise<unknown>;
  setDraft(conversationId: string, text: string): Promise<unknown>;
  settings(): Promise<Settings>;
  updateSettings(s: Partial<Settings>): Promise<unknown>;
  markVerified(userId: string, verified: boolean): Promise<unknown>;
  verifySafetyQr(userId: string, payload: Uint8Array): Promise<boolean>;
  deleteAccount(): Promise<unknown>;
  logout(): Promise<unknown>;
  pushPublicKey(): Promise<string | undefined>;
  registerPush(subscription: { endpoint: string; keys: { p256dh: string; auth: string } }): Promise<unknown>;
  unregisterPush(): Promise<unknown>;
  /** Admins only (the SDK refuses otherwise with FORBIDDEN); `userId`, not username. */
  renameGroup(conversationId: string, title: string): Promise<unknown>;
  setAdmin(conversationId: string, userId: string, admin: boolean): Promise<unknown>;
}

export type Feature = keyof Extended;

/** The client seen through the extended interface; every method is there only if `has()` says so. */
export function ext(client: KolokolClient): Partial<Extended> {
  return client as unknown as Partial<Extended>;
}

export function has(client: KolokolClient, feature: Feature): boolean {
  return typeof (client as unknown as Record<string, unknown>)[feature] === 'function';
}

/**
 * sendText with a reply target. The first SDK takes (conversation, text); the extended one adds
 * `{ replyTo }`. An extra argument is harmless to the first, so one call serves both.
 */
export function sendText(
  client: KolokolClient,
  conversationId: string,
  text: string,
  replyTo?: string,
): Promise<StoredMessage> {
  const send = client.sendText as unknown as (
    c: string,
    t: string,
    o?: { replyTo?: string },
  ) => Promise<StoredMessage>;
  return send.call(client, conversationId, text, replyTo === undefined ? undefined : { replyTo });
}

function progressArg(
  onProgress: Progress,
  signal: AbortSignal,
): { onProgress: Progress; signal: AbortSignal } {
  return { onProgress, signal };
}

export function sendAttachment(
  client: KolokolClient,
  conversationId: string,
  file: { name: string; mime: string; bytes: Uint8Array },
  onProgress: Progress,
  signal: AbortSignal,
): Promise<StoredMessage> {
  const send = client.sendAttachment as unknown as (
    c: string,
    f: typeof file,
    o: unknown,
  ) => Promise<StoredMessage>;
  return send.call(client, conversationId, file, progressArg(onProgress, signal));
}

export function downloadAttachment(
  client: KolokolClient,
  ref: AttachmentRef,
  onProgress: Progress,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const get = client.downloadAttachment as unknown as (r: AttachmentRef, o: unknown) => Promise<Uint8Array>;
  return get.call(client, ref, progressArg(onProgress, signal));
}

/** The text of a message for previews, quotes and search; undefined for local notices. */
export function textOf(m: Message): string | undefined {
  const b = m.body as { type: string; text?: string; attachment?: AttachmentRef };
  if (b.type === 'text') return b.text ?? '';
  if (b.type === 'attachment') return b.attachment?.name ?? '';
  return undefined;
}

export function attachmentOf(m: Message): AttachmentRef | undefined {
  const b = m.body as { type: string; attachment?: AttachmentRef };
  return b.type === 'attachment' ? b.attachment : undefined;
}

/** A local notice the SDK inserts (safety number changed, account deleted). */
export function systemOf(m: Message): { event: string; userId: string } | undefined {
  const b = m.body as { type: string; event?: string; userId?: string };
  return b.type === 'system' && typeof b.event === 'string' && typeof b.userId === 'string'
    ? { event: b.event, userId: b.userId }
    : undefined;
}

/** Reactions as (emoji, userIds) pairs, in the order they first appeared. */
export function reactionsOf(m: Message): { emoji: string; users: string[] }[] {
  return Object.entries(m.reactions ?? {})
    .filter(([, users]) => users.length > 0)
    .map(([emoji, users]) => ({ emoji, users }));
}

/** Extra client events of the extended SDK, subscribed by name so the first SDK simply never fires them. */
export const ExtEvent = {
  MessageUpdated: 'messageUpdated',
  Typing: 'typing',
  Profile: 'profile',
  SafetyNumberChanged: 'safetyNumberChanged',
} as const;

export function onExt(
  client: KolokolClient,
  event: (typeof ExtEvent)[keyof typeof ExtEvent],
  fn: (payload: unknown) => void,
): () => void {
  const c = client as unknown as {
    on(e: string, f: (p: unknown) => void): void;
    off(e: string, f: (p: unknown) => void): void;
  };
  c.on(event, fn);
  return () => c.off(event, fn);
}
