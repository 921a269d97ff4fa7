import type { Generated } from 'kysely';

/**
 * Table shapes as written. Reads are parsed again (rows.ts): PostgreSQL hands BIGINT back as
 * strings, SQLite hands back whatever the file holds.
 */
export interface DB {
  accounts: {
    user_id: string;
    username: string;
    display_name: string | null;
    identity_key: string;
    created_at: number;
    /** Set when the account was deleted; the row only reserves the username until the quarantine ends. */
    deleted_at: number | null;
  };
  devices: {
    device_id: string;
    user_id: string;
    device_key: string;
    cert: string;
    issued_at: number;
    name: string | null;
    created_at: number;
    revoked_at: number | null;
  };
  sessions: {
    session_id: string;
    device_id: string;
    user_id: string;
    token_hash: string;
    created_at: number;
    last_seen_at: number;
    expires_at: number;
    revoked_at: number | null;
  };
  challenges: { challenge: string; device_id: string; expires_at: number };
  key_packages: {
    id: Generated<number>;
    device_id: string;
    bytes: Uint8Array;
    last_resort: number;
    created_at: number;
  };
  /** One row per key package handed out: a commit's adds use them up (see migration 0003). */
  keypackage_claims: {
    id: Generated<number>;
    claimer_device: string;
    target_device: string;
    claimed_at: number;
  };
  groups: { group_id: string; epoch: number; next_seq: number; created_at: number };
  group_members: { group_id: string; user_id: string; device_id: string; joined_at: number };
  messages: {
    message_pk: Generated<number>;
    group_id: string;
    seq: number;
    msg_id: string;
    sender_user: string;
    sender_device: string;
    kind: string;
    epoch: number;
    /** The epoch the `ok` answer carried, so that a retried send gets the very same answer. */
    ok_epoch: number;
    body: Uint8Array;
    created_at: number;
    /** Franked application messages: the sender's commitment and the server's tag (migration 0004). */
    franking_cf?: Uint8Array | null;
    franking_tag?: Uint8Array | null;
  };
  mailbox: { id: Generated<number>; device_id: string; message_pk: number; created_at: number };
  links: {
    link_id: string;
    user_id: string;
    sealed: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  invites: {
    code_hash: string;
    created_by: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  attachments: { attachment_id: string; size: number; uploader_device: string; created_at: number };
  uploads: {
    upload_id: string;
    attachment_id: string;
    device_id: string;
    size: number;
    received: number;
    created_at: number;
  };
  push_subscriptions: {
    device_id: string;
    endpoint: string;
    p256dh: string;
    auth: string;
    created_at: number;
  };
  /** Moderation (migration 0004; moderation/store.ts). */
  moderation_accounts: {
    user_id: string;
    suspended_at: number | null;
    suspend_reason: string | null;
    limits_lifted_at: number | null;
  };
  reports: {
    report_id: string;
    reporter_user: string;
    reported_user: string;
    category: string;
    comment: string | null;
    messages: string;
    created_at: number;
    status: string;
    resolved_at: number | null;
    resolution_reason: string | null;
  };
  appeals: {
    appeal_id: string;
    user_id: string;
    text: string;
    created_at: number;
    resolved_at: number | null;
  };
  notices: {
    id: Generated<number>;
    user_id: string;
    kind: string;
    reason: string | null;
    created_at: number;
  };
  stranger_reach: { user_id: string; target_user: string; reached_at: number };
  /** Migration 0005: who blocked whom (moderation/store.ts; the send path in store.ts). */
  blocks: { blocker_user: string; blocked_user: string; created_at: number };
}

export type Dialect = 'sqlite' | 'postgres';
