import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { ErrorCode, Limits, type OutgoingMessage as OutgoingMessageSchema } from '@kolokol/protocol';
import { Kysely, sql, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import type pg from 'pg';
import { z } from 'zod';
import { ServerError } from '../errors.ts';
import { Checkpointer } from './checkpointer.ts';
import { GroupCommit } from './group-commit.ts';
import { migrations } from './migrations/index.ts';
import { postgresDialect, postgresPool } from './postgres.ts';
import {
  type Account,
  AccountRow,
  CountRow,
  DbBytes,
  DbInt,
  DbIntOrNull,
  DbText,
  DbTextOrNull,
  type Device,
  DeviceRow,
  type Link,
  LinkRow,
  MailboxJoinRow,
  type PushSubscription,
  PushSubscriptionRow,
  parseRow,
  type Session,
  SessionRow,
  SqliteInt,
  SqliteMailboxJoinRow,
  type StoredMailboxItem,
  type Upload,
  UploadRow,
} from './rows.ts';
import type { DB, Dialect } from './schema.ts';
import { openSqlite } from './sqlite.ts';
import { SqliteHot } from './sqlite-hot.ts';

export type Outgoing = z.output<typeof OutgoingMessageSchema>;
export type { Account, Device, Link, PushSubscription, Session, StoredMailboxItem, Upload };

export interface NewDevice {
  deviceId: string;
  deviceKey: string;
  cert: string;
  issuedAt: number;
  name: string | undefined;
}

export interface SendResult {
  msgId: string;
  seq: number;
  epoch: number;
  /** True when this (device, msgId) was stored before: nothing new was stored or fanned out. */
  duplicate: boolean;
  /** Devices with new mailbox items. */
  recipients: string[];
}

export interface ClaimedPackage {
  deviceId: string;
  bytes: Uint8Array;
  lastResort: boolean;
  /** One-time packages the device has left after this claim. */
  remaining: number;
}

export interface SweepResult {
  expiredItems: number;
  trimmedItems: number;
  orphanMessages: number;
  other: number;
}

export type StoreOptions =
  | { kind: 'sqlite'; path: string; synchronous?: 'normal' | 'full' }
  | { kind: 'postgres'; url: string; schema?: string; max?: number };

/** A stored message nobody still has in a mailbox is kept this long, to answer retried sends. */
export const IDEMPOTENCY_GRACE_MS = 24 * 60 * 60 * 1000;
/** Used and expired links are kept a day so that a late reader learns LINK_EXPIRED, not NOT_FOUND. */
const LINK_KEEP_MS = 24 * 60 * 60 * 1000;
/** A deleted account's username stays reserved this long (its contacts may still trust the name). */
export const USERNAME_QUARANTINE_MS = 30 * 24 * 60 * 60 * 1000;
/** A claimed key package entitles its claimer to add that device to a group for this long. */
export const CLAIM_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** More one-time key packages than this per device is abuse, not prudence. */
export const MAX_STORED_KEY_PACKAGES = 1000;

const fail = (code: ErrorCode, message: string, details?: Record<string, unknown>) =>
  new ServerError(code, message, details === undefined ? undefined : { details });

/** A send's refusals, alike on its three paths: the transaction, SQLite's #sendNow, kolokol_send. */
const refused = {
  unknownGroup: () => fail(ErrorCode.NotFound, 'unknown group'),
  notMember: () => fail(ErrorCode.NotGroupMember, 'this device is not a member of the group'),
  /** Nobody can have made a message in an epoch the group has not reached (review H1). */
  futureEpoch: (epoch: number, asked: number) =>
    fail(ErrorCode.BadRequest, `the group is at epoch ${epoch}, not ${asked}`, { epoch }),
};

export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (Reflect.get(err, 'code') === '23505') return true;
  return /UNIQUE constraint failed/i.test(err.message);
}

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/**
 * Everything the server keeps, behind one interface, on SQLite (node:sqlite) or PostgreSQL.
 *
 * Concurrency: on SQLite, Kysely runs every query and transaction on one connection behind a
 * mutex, so transactions are serial. On PostgreSQL, a send locks its group row (FOR UPDATE), which
 * orders a group's messages and makes the epoch check of a commit a compare-and-set; key package
 * claims lock the package rows they take (SKIP LOCKED).
 */
export class Store {
  readonly dialect: Dialect;
  readonly db: Kysely<DB>;
  readonly #pool: pg.Pool | undefined;
  readonly #schema: string | undefined;
  /** SQLite only: the connection under Kysely, for the message path (sqlite-hot.ts). */
  readonly #sqlite: DatabaseSync | undefined;
  readonly #writes: GroupCommit | undefined;
  #hotStatements: SqliteHot | undefined;
  #checkpointer: Checkpointer | undefined;

  private constructor(
    dialect: Dialect,
    db: Kysely<DB>,
    pool: pg.Pool | undefined,
    schema?: string,
    sqlite?: DatabaseSync,
  ) {
    this.dialect = dialect;
    this.db = db;
    this.#pool = pool;
    this.#schema = schema;
    this.#sqlite = sqlite;
    this.#writes = sqlite === undefined ? undefined : new GroupCommit(sqlite, (fn) => this.#exclusive(fn));
  }

  /**
   * Sends (not commits) and acks issued one after the other are written in that order even when
   * the caller does not wait for each before issuing the next (SQLite's group commit queue). On
   * PostgreSQL each runs in its own transaction on a pool connection, in any order.
   */
  get pipelined(): boolean {
    return this.#writes !== undefined;
  }

  /**
   * Runs the synchronous `fn` on the one SQLite connection where it cannot see or join a Kysely
   * transaction: at once when none is open (nothing can interleave with synchronous code, and
   * outside a transaction only committed rows are visible), else once Kysely's connection lock
   * is free again.
   */
  #exclusive<T>(fn: () => T): Promise<T> {
    if (this.#sqlite?.isTransaction === false) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.db.connection().execute(async () => fn());
  }

  /** Prepared after the migrations, on first use. */
  get #hot(): SqliteHot {
    if (this.#sqlite === undefined) throw new ServerError('INTERNAL', 'not a SQLite store');
    this.#hotStatements ??= new SqliteHot(this.#sqlite);
    return this.#hotStatements;
  }

  static async open(options: StoreOptions): Promise<Store> {
    let store: Store;
    if (options.kind === 'sqlite') {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      const sqliteOptions: Parameters<typeof openSqlite>[0] = { path: options.path };
      if (options.synchronous !== undefined) sqliteOptions.synchronous = options.synchronous;
      const { dialect, database } = openSqlite(sqliteOptions);
      store = new Store('sqlite', new Kysely<DB>({ dialect }), undefined, undefined, database);
      if (options.path !== ':memory:') store.#checkpointer = new Checkpointer(options.path);
    } else {
      if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
        throw new ServerError('CONFIG', `invalid PostgreSQL schema name ${JSON.stringify(options.schema)}`);
      }
      const poolOptions: Parameters<typeof postgresPool>[0] = { url: options.url };
      if (options.schema !== undefined) poolOptions.schema = options.schema;
      if (options.max !== undefined) poolOptions.max = options.max;
      const pool = postgresPool(poolOptions);
      // An idle client losing its connection must not crash the process; the pool replaces it.
      pool.on('error', () => {});
      store = new Store('postgres', new Kysely<DB>({ dialect: postgresDialect(pool) }), pool, options.schema);
      try {
        if (options.schema !== undefined) {
          // Nodes of a cluster starting together race here; "if not exists" does not cover that.
          await sql`create schema if not exists ${sql.id(options.schema)}`
            .execute(store.db)
            .catch((err: unknown) => {
              if (!isUniqueViolation(err)) throw err;
            });
        }
      } catch (cause) {
        await store.close();
        throw new ServerError('UNAVAILABLE', 'PostgreSQL is not reachable', { cause });
      }
    }
    try {
      await store.migrate();
    } catch (cause) {
      await store.close();
      throw cause instanceof ServerError
        ? cause
        : new ServerError('INTERNAL', 'database migration failed', { cause });
    }
    return store;
  }

  async migrate(): Promise<void> {
    // Kysely looks for its migration tables in every schema of the database unless told which
    // one: with another Kolokol schema in the same database (a second deployment, a test run, a
    // benchmark's earlier cluster) it would find that one's tables, skip creating its own and
    // then fail on "relation kysely_migration_lock does not exist" through our search_path.
    let schema = this.#schema;
    if (schema === undefined && this.dialect === 'postgres') {
      const r = await sql<{ s: unknown }>`select current_schema() as s`.execute(this.db);
      const s = r.rows[0]?.s;
      if (typeof s === 'string') schema = s;
    }
    const migrator = new Migrator({
      db: this.db,
      provider: migrations(this.dialect),
      ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    });
    const { error } = await migrator.migrateToLatest();
    if (error !== undefined) throw new ServerError('INTERNAL', 'database migration failed', { cause: error });
  }

  async close(): Promise<void> {
    await this.#writes?.drain();
    await this.#checkpointer?.stop();
    await this.db.destroy();
  }

  /** For /readyz. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  get pool(): pg.Pool | undefined {
    return this.#pool;
  }

  // ---- accounts and devices ----

  async createAccount(input: {
    userId: string;
    username: string;
    displayName: string | undefined;
    identityKey: string;
    device: NewDevice;
    inviteCodeHash: string | undefined;
    now: number;
  }): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        if (input.inviteCodeHash !== undefined) {
          const r = await trx
            .updateTable('invites')
            .set({ used_at: input.now })
            .where('code_hash', '=', input.inviteCodeHash)
            .where('used_at', 'is', null)
            .where('expires_at', '>', input.now)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) !== 1)
            throw fail(ErrorCode.InvalidInvite, 'invite code is unknown, used or expired');
        }
        const taken = await trx
          .selectFrom('accounts')
          .select('user_id')
          .where('username', '=', input.username)
          .executeTakeFirst();
        if (taken !== undefined) throw fail(ErrorCode.UsernameTaken, 'username is taken');
        await this.#assertDeviceIdFree(trx, input.device.deviceId);
        await trx
          .insertInto('accounts')
          .values({
            user_id: input.userId,
            username: input.username,
            display_name: input.displayName ?? null,
            identity_key: input.identityKey,
            created_at: input.now,
            deleted_at: null,
          })
          .execute();
        await this.#insertDevice(trx, input.userId, input.device, input.now);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        // A concurrent registration won the race (PostgreSQL); say which constraint it hit.
        const taken = await this.db
          .selectFrom('accounts')
          .select('user_id')
          .where('username', '=', input.username)
          .executeTakeFirst();
        if (taken !== undefined) {
          throw fail(ErrorCode.UsernameTaken, 'username is taken');
        }
        throw fail(ErrorCode.BadRequest, 'deviceId is already in use: pick another random one');
      }
      throw err;
    }
  }

  async #assertDeviceIdFree(trx: Transaction<DB>, deviceId: string): Promise<void> {
    const d = await trx
      .selectFrom('devices')
      .select('device_id')
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    if (d !== undefined)
      throw fail(ErrorCode.BadRequest, 'deviceId is already in use: pick another random one');
  }

  async #insertDevice(trx: Transaction<DB>, userId: string, d: NewDevice, now: number): Promise<void> {
    await trx
      .insertInto('devices')
      .values({
        device_id: d.deviceId,
        user_id: userId,
        device_key: d.deviceKey,
        cert: d.cert,
        issued_at: d.issuedAt,
        name: d.name ?? null,
        created_at: now,
        revoked_at: null,
      })
      .execute();
  }

  async accountByUsername(username: string): Promise<Account | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .selectAll()
      .where('username', '=', username)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(AccountRow, row, 'account');
  }

  async accountById(userId: string): Promise<Account | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .selectAll()
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(AccountRow, row, 'account');
  }

  async device(deviceId: string): Promise<Device | undefined> {
    const row = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(DeviceRow, row, 'device');
  }

  async activeDevices(userId: string): Promise<Device[]> {
    const rows = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at')
      .orderBy('device_id')
      .execute();
    return rows.map((r) => parseRow(DeviceRow, r, 'device'));
  }

  /**
   * Adds a device through a link: the link must be unused and unexpired, and `verify` must accept
   * the cert under the account's identity key. All in one transaction, so the link is only used up
   * by a device that was actually added.
   */
  async addLinkedDevice(input: {
    linkId: string;
    device: NewDevice;
    now: number;
    verify: (identityKey: string) => boolean;
  }): Promise<Account> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('links')
          .selectAll()
          .where('link_id', '=', input.linkId)
          .executeTakeFirst();
        if (row === undefined) throw fail(ErrorCode.NotFound, 'unknown link');
        const link = parseRow(LinkRow, row, 'link');
        if (link.usedAt !== undefined || link.expiresAt <= input.now) {
          throw fail(ErrorCode.LinkExpired, 'link is used or expired');
        }
        const accRow = await trx
          .selectFrom('accounts')
          .selectAll()
          .where('user_id', '=', link.userId)
          .executeTakeFirst();
        if (accRow === undefined) throw fail(ErrorCode.NotFound, 'unknown account');
        const account = parseRow(AccountRow, accRow, 'account');
        if (!input.verify(account.identityKey)) {
          throw fail(ErrorCode.Forbidden, "device cert does not verify under the account's identity key");
        }
        const used = await trx
          .updateTable('links')
          .set({ used_at: input.now })
          .where('link_id', '=', input.linkId)
          .where('used_at', 'is', null)
          .executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) throw fail(ErrorCode.LinkExpired, 'link is used or expired');
        await this.#assertDeviceIdFree(trx, input.device.deviceId);
        await this.#insertDevice(trx, account.userId, input.device, input.now);
        return account;
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw fail(ErrorCode.BadRequest, 'deviceId is already in use: pick another random one');
      throw err;
    }
  }

  /**
   * Revokes a device of `userId`: its sessions, key packages, mailbox and group memberships go.
   * Returns false when the device was already revoked.
   */
  async revokeDevice(userId: string, deviceId: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('devices')
        .selectAll()
        .where('device_id', '=', deviceId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (row === undefined) throw fail(ErrorCode.NotFound, 'no such device on this account');
      const device = parseRow(DeviceRow, row, 'device');
      if (device.revokedAt !== undefined) return false;
      await trx.updateTable('devices').set({ revoked_at: now }).where('device_id', '=', deviceId).execute();
      await trx
        .updateTable('sessions')
        .set({ revoked_at: now })
        .where('device_id', '=', deviceId)
        .where('revoked_at', 'is', null)
        .execute();
      await trx.deleteFrom('key_packages').where('device_id', '=', deviceId).execute();
      await trx.deleteFrom('mailbox').where('device_id', '=', deviceId).execute();
      await trx.deleteFrom('group_members').where('device_id', '=', deviceId).execute();
      await trx.deleteFrom('challenges').where('device_id', '=', deviceId).execute();
      await trx.deleteFrom('push_subscriptions').where('device_id', '=', deviceId).execute();
      return true;
    });
  }

  /**
   * Deletes an account: its devices, sessions, key packages, mailboxes, push subscriptions,
   * unfinished uploads, links and group memberships go in one transaction. The accounts row stays,
   * emptied, to keep the username reserved until USERNAME_QUARANTINE_MS has passed (the sweeper then
   * deletes it), so nobody can take over the name while the account's contacts still trust it.
   * Returns the deleted devices, the devices of other accounts that shared a group with it (to be
   * told), and the upload ids whose files the caller deletes.
   */
  async deleteAccount(
    userId: string,
    now: number,
  ): Promise<{ devices: string[]; peers: string[]; uploads: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const devRows = await trx
        .selectFrom('devices')
        .select('device_id')
        .where('user_id', '=', userId)
        .execute();
      const devices = devRows.map((r) => parseRow(DbText, r.device_id, 'device id'));
      const peerRows = await trx
        .selectFrom('group_members as mine')
        .innerJoin('group_members as other', 'other.group_id', 'mine.group_id')
        .select('other.device_id')
        .distinct()
        .where('mine.user_id', '=', userId)
        .where('other.user_id', '<>', userId)
        .execute();
      const peers = peerRows.map((r) => parseRow(DbText, r.device_id, 'device id'));
      const upRows = await trx
        .selectFrom('uploads')
        .select('upload_id')
        .where('device_id', 'in', devices.length > 0 ? devices : [''])
        .execute();
      const uploads = upRows.map((r) => parseRow(DbText, r.upload_id, 'upload id'));
      for (const part of chunks(devices, 200)) {
        await trx.deleteFrom('mailbox').where('device_id', 'in', part).execute();
        await trx.deleteFrom('key_packages').where('device_id', 'in', part).execute();
        await trx.deleteFrom('challenges').where('device_id', 'in', part).execute();
        await trx.deleteFrom('push_subscriptions').where('device_id', 'in', part).execute();
        await trx.deleteFrom('uploads').where('device_id', 'in', part).execute();
      }
      await trx.deleteFrom('group_members').where('user_id', '=', userId).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('links').where('user_id', '=', userId).execute();
      await trx.deleteFrom('devices').where('user_id', '=', userId).execute();
      await trx
        .updateTable('accounts')
        .set({ deleted_at: now, display_name: null })
        .where('user_id', '=', userId)
        .execute();
      return { devices, peers, uploads };
    });
  }

  // ---- login ----

  async createChallenge(deviceId: string, challenge: string, expiresAt: number): Promise<void> {
    await this.db
      .insertInto('challenges')
      .values({ challenge, device_id: deviceId, expires_at: expiresAt })
      .execute();
  }

  /** Single use: true only for the first caller with an unexpired challenge of this device. */
  async consumeChallenge(deviceId: string, challenge: string, now: number): Promise<boolean> {
    const r = await this.db
      .deleteFrom('challenges')
      .where('challenge', '=', challenge)
      .where('device_id', '=', deviceId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async createSession(s: {
    sessionId: string;
    deviceId: string;
    userId: string;
    tokenHash: string;
    now: number;
    expiresAt: number;
  }): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        session_id: s.sessionId,
        device_id: s.deviceId,
        user_id: s.userId,
        token_hash: s.tokenHash,
        created_at: s.now,
        last_seen_at: s.now,
        expires_at: s.expiresAt,
        revoked_at: null,
      })
      .execute();
  }

  async sessionByTokenHash(tokenHash: string): Promise<Session | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(SessionRow, row, 'session');
  }

  async touchSession(sessionId: string, now: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: now })
      .where('session_id', '=', sessionId)
      .execute();
  }

  async activeSessions(userId: string, now: number): Promise<Session[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => parseRow(SessionRow, r, 'session'));
  }

  /** Returns the revoked session, or undefined if the account has no such active session. */
  async revokeSession(userId: string, sessionId: string, now: number): Promise<Session | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('sessions')
        .selectAll()
        .where('session_id', '=', sessionId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      await trx
        .updateTable('sessions')
        .set({ revoked_at: now })
        .where('session_id', '=', sessionId)
        .execute();
      return parseRow(SessionRow, row, 'session');
    });
  }

  // ---- invites and links ----

  async createInvite(codeHash: string, createdBy: string, now: number, expiresAt: number): Promise<void> {
    await this.db
      .insertInto('invites')
      .values({
        code_hash: codeHash,
        created_by: createdBy,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
  }

  async createLink(
    linkId: string,
    userId: string,
    sealed: string,
    now: number,
    expiresAt: number,
  ): Promise<void> {
    await this.db
      .insertInto('links')
      .values({
        link_id: linkId,
        user_id: userId,
        sealed,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
  }

  async link(linkId: string): Promise<Link | undefined> {
    const row = await this.db
      .selectFrom('links')
      .selectAll()
      .where('link_id', '=', linkId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(LinkRow, row, 'link');
  }

  // ---- key packages ----

  async uploadKeyPackages(
    deviceId: string,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
    now: number,
  ): Promise<{ oneTime: number; lastResort: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const before = await this.#countOneTime(trx, deviceId);
      if (before + oneTime.length > MAX_STORED_KEY_PACKAGES) {
        throw fail(
          ErrorCode.BadRequest,
          `at most ${MAX_STORED_KEY_PACKAGES} one-time key packages per device`,
        );
      }
      for (const part of chunks(oneTime, 100)) {
        await trx
          .insertInto('key_packages')
          .values(
            part.map((b) => ({
              device_id: deviceId,
              bytes: Buffer.from(b),
              last_resort: 0,
              created_at: now,
            })),
          )
          .execute();
      }
      if (lastResort !== undefined) {
        await trx
          .deleteFrom('key_packages')
          .where('device_id', '=', deviceId)
          .where('last_resort', '=', 1)
          .execute();
        await trx
          .insertInto('key_packages')
          .values({ device_id: deviceId, bytes: Buffer.from(lastResort), last_resort: 1, created_at: now })
          .execute();
      }
      return this.#counts(trx, deviceId);
    });
  }

  async keyPackageCount(deviceId: string): Promise<{ oneTime: number; lastResort: boolean }> {
    return this.#counts(this.db, deviceId);
  }

  async #countOneTime(db: Kysely<DB>, deviceId: string): Promise<number> {
    const row = await db
      .selectFrom('key_packages')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('device_id', '=', deviceId)
      .where('last_resort', '=', 0)
      .executeTakeFirst();
    return parseRow(CountRow, row, 'count').n;
  }

  async #counts(db: Kysely<DB>, deviceId: string): Promise<{ oneTime: number; lastResort: boolean }> {
    const oneTime = await this.#countOneTime(db, deviceId);
    const lr = await db
      .selectFrom('key_packages')
      .select('id')
      .where('device_id', '=', deviceId)
      .where('last_resort', '=', 1)
      .executeTakeFirst();
    return { oneTime, lastResort: lr !== undefined };
  }

  /**
   * One key package for each active device of `userId` except `exceptDeviceId`, consuming
   * one-time packages and falling back to the last-resort one. All or nothing: if any device has
   * none, nothing is consumed (NO_KEY_PACKAGE). Each package handed out is recorded as a claim of
   * `exceptDeviceId` (the caller's device), which one commit of that device can use up to add the
   * claimed device (see `send`).
   */
  async claimKeyPackages(
    userId: string,
    exceptDeviceId: string,
    now = Date.now(),
  ): Promise<ClaimedPackage[]> {
    return this.db.transaction().execute(async (trx) => {
      const devices = await trx
        .selectFrom('devices')
        .select('device_id')
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('device_id', '<>', exceptDeviceId)
        .orderBy('device_id')
        .execute();
      const out: ClaimedPackage[] = [];
      for (const d of devices) {
        const deviceId = parseRow(DbText, d.device_id, 'device id');
        let q = trx
          .selectFrom('key_packages')
          .select(['id', 'bytes'])
          .where('device_id', '=', deviceId)
          .where('last_resort', '=', 0)
          .orderBy('id')
          .limit(1);
        if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
        const one = await q.executeTakeFirst();
        if (one !== undefined) {
          await trx
            .deleteFrom('key_packages')
            .where('id', '=', parseRow(DbInt, one.id, 'key package id'))
            .execute();
          const remaining = await this.#countOneTime(trx, deviceId);
          out.push({
            deviceId,
            bytes: parseRow(DbBytes, one.bytes, 'key package'),
            lastResort: false,
            remaining,
          });
          continue;
        }
        const lr = await trx
          .selectFrom('key_packages')
          .select('bytes')
          .where('device_id', '=', deviceId)
          .where('last_resort', '=', 1)
          .executeTakeFirst();
        if (lr === undefined) {
          throw fail(ErrorCode.NoKeyPackage, `device ${deviceId} has no key package`, { deviceId });
        }
        out.push({
          deviceId,
          bytes: parseRow(DbBytes, lr.bytes, 'key package'),
          lastResort: true,
          remaining: 0,
        });
      }
      for (const part of chunks(out, 200)) {
        await trx
          .insertInto('keypackage_claims')
          .values(
            part.map((c) => ({ claimer_device: exceptDeviceId, target_device: c.deviceId, claimed_at: now })),
          )
          .execute();
      }
      return out;
    });
  }

  // ---- groups ----

  async createGroup(
    groupId: string,
    member: { userId: string; deviceId: string },
    now: number,
  ): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom('groups')
          .select('group_id')
          .where('group_id', '=', groupId)
          .executeTakeFirst();
        if (existing !== undefined) throw fail(ErrorCode.GroupExists, 'groupId is taken');
        await trx
          .insertInto('groups')
          .values({ group_id: groupId, epoch: 0, next_seq: 0, created_at: now })
          .execute();
        await trx
          .insertInto('group_members')
          .values({ group_id: groupId, user_id: member.userId, device_id: member.deviceId, joined_at: now })
          .execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw fail(ErrorCode.GroupExists, 'groupId is taken');
      throw err;
    }
  }

  async group(
    groupId: string,
  ): Promise<
    { epoch: number; createdAt: number; members: { userId: string; deviceId: string }[] } | undefined
  > {
    const g = await this.db
      .selectFrom('groups')
      .select(['epoch', 'created_at'])
      .where('group_id', '=', groupId)
      .executeTakeFirst();
    if (g === undefined) return undefined;
    return {
      epoch: parseRow(DbInt, g.epoch, 'group epoch'),
      createdAt: parseRow(DbInt, g.created_at, 'group created_at'),
      members: await this.#members(this.db, groupId),
    };
  }

  async #members(db: Kysely<DB>, groupId: string): Promise<{ userId: string; deviceId: string }[]> {
    const rows = await db
      .selectFrom('group_members')
      .select(['user_id', 'device_id'])
      .where('group_id', '=', groupId)
      .orderBy('joined_at')
      .orderBy('device_id')
      .execute();
    return rows.map((r) => ({
      userId: parseRow(DbText, r.user_id, 'member'),
      deviceId: parseRow(DbText, r.device_id, 'member'),
    }));
  }

  // ---- messages and mailboxes ----

  /**
   * Stores one send and its mailbox entries in one transaction (see the class comment for the
   * locking). A repeated (device, msgId) returns the first result and stores nothing.
   */
  async send(
    sender: { userId: string; deviceId: string },
    msg: Outgoing,
    now: number,
    /** The server's tag over `msg.franking` (moderation/franking.ts), stored beside it. */
    frankingTag?: Uint8Array,
  ): Promise<SendResult> {
    const body = Buffer.from(fromB64url(msg.body));
    if (msg.franking !== undefined && msg.kind !== 'application')
      throw fail(ErrorCode.BadRequest, 'only application messages carry a franking commitment');
    const franking: { franking_cf?: Buffer; franking_tag?: Buffer } =
      msg.franking !== undefined && frankingTag !== undefined
        ? { franking_cf: Buffer.from(fromB64url(msg.franking)), franking_tag: Buffer.from(frankingTag) }
        : {};
    const welcome = msg.welcome === undefined ? undefined : Buffer.from(fromB64url(msg.welcome));
    if (
      msg.kind !== 'commit' &&
      (msg.adds !== undefined || msg.removes !== undefined || welcome !== undefined)
    ) {
      throw fail(ErrorCode.BadRequest, 'only commits carry adds, removes or a welcome');
    }
    const adds = msg.adds ?? [];
    if (adds.length > 0 && welcome === undefined)
      throw fail(ErrorCode.BadRequest, 'a commit that adds devices needs a welcome');
    if (adds.length === 0 && welcome !== undefined)
      throw fail(ErrorCode.BadRequest, 'a welcome needs added devices');
    // On SQLite, every send but a commit takes #sendNow, a second implementation of the transaction
    // below for the message path: a check or a change of fan-out made here must be made there too
    // (the storage suite runs on both dialects, and so catches a difference it has a test for).
    if (this.#writes !== undefined && msg.kind !== 'commit') {
      return this.#writes.run(() => this.#sendNow(sender, msg, now, body, franking));
    }
    // On PostgreSQL the same transaction is one call of a function (migration 0006): ditto.
    if (this.dialect === 'postgres' && msg.kind !== 'commit') {
      return this.#sendPg(sender, msg, now, body, franking);
    }

    try {
      return await this.db.transaction().execute(async (trx) => {
        let lock = trx.selectFrom('groups').select(['epoch', 'next_seq']).where('group_id', '=', msg.groupId);
        if (this.dialect === 'postgres') lock = lock.forUpdate();
        const g = await lock.executeTakeFirst();
        if (g === undefined) throw refused.unknownGroup();
        const epoch = parseRow(DbInt, g.epoch, 'group epoch');
        const seq = parseRow(DbInt, g.next_seq, 'group seq');

        const members = await this.#members(trx, msg.groupId);
        if (!members.some((m) => m.deviceId === sender.deviceId)) {
          throw refused.notMember();
        }
        // Only after the membership check: a retry is answered for members only (review L2).
        const prior = await this.#priorSend(trx, sender.deviceId, msg);
        if (prior !== undefined) return prior;
        if (msg.kind !== 'commit' && msg.epoch > epoch) {
          // Nobody can have made a message in an epoch the group has not reached: an honest
          // client never sends one, and receivers would have to hold it (review H1).
          throw refused.futureEpoch(epoch, msg.epoch);
        }
        let okEpoch = epoch;
        const memberIds = new Set(members.map((m) => m.deviceId));
        const newMembers: { userId: string; deviceId: string }[] = [];
        let removes: string[] = [];
        if (msg.kind === 'commit') {
          if (msg.epoch !== epoch) {
            throw fail(ErrorCode.StaleEpoch, `the group is at epoch ${epoch}`, { epoch });
          }
          okEpoch = epoch + 1;
          removes = [...new Set(msg.removes ?? [])].filter((d) => memberIds.has(d));
          const seen = new Set<string>();
          for (const a of adds) {
            // Devices that are already members are left alone (their MLS state is the client's business).
            if (memberIds.has(a.deviceId) || seen.has(a.deviceId)) continue;
            const d = await trx
              .selectFrom('devices')
              .select(['user_id', 'revoked_at'])
              .where('device_id', '=', a.deviceId)
              .executeTakeFirst();
            if (
              d === undefined ||
              d.revoked_at !== null ||
              parseRow(DbText, d.user_id, 'device') !== a.userId
            ) {
              throw fail(
                ErrorCode.BadRequest,
                `device ${a.deviceId} is not an active device of user ${a.userId}`,
                {
                  deviceId: a.deviceId,
                },
              );
            }
            await this.#useClaim(trx, sender.deviceId, a.deviceId, now);
            seen.add(a.deviceId);
            newMembers.push({ userId: a.userId, deviceId: a.deviceId });
          }
          if (members.length - removes.length + newMembers.length > Limits.maxGroupMembers) {
            throw fail(ErrorCode.BadRequest, `a group has at most ${Limits.maxGroupMembers} member devices`);
          }
        }
        await trx
          .updateTable('groups')
          .set({ epoch: okEpoch, next_seq: seq + 1 })
          .where('group_id', '=', msg.groupId)
          .execute();
        const pk = await this.#insertMessage(trx, {
          group_id: msg.groupId,
          seq,
          msg_id: msg.msgId,
          sender_user: sender.userId,
          sender_device: sender.deviceId,
          kind: msg.kind,
          epoch: msg.epoch,
          ok_epoch: okEpoch,
          body,
          created_at: now,
          ...franking,
        });
        // Who blocked the sender gets none of its application messages and welcomes (issue 6);
        // commits and proposals still reach them, or their group state would fall behind.
        const blockers =
          msg.kind === 'application' || welcome !== undefined
            ? blockerSet(
                await trx
                  .selectFrom('blocks')
                  .select('blocker_user')
                  .where('blocked_user', '=', sender.userId)
                  .execute(),
              )
            : NO_BLOCKERS;
        // Everyone but the sender, removed devices included: they learn of their removal this way.
        const recipients = members
          .filter((m) => m.deviceId !== sender.deviceId)
          .filter((m) => msg.kind !== 'application' || !blockers.has(m.userId))
          .map((m) => m.deviceId);
        await this.#fanOut(trx, pk, recipients, now);

        if (msg.kind === 'commit') {
          for (const part of chunks(removes, 200)) {
            await trx
              .deleteFrom('group_members')
              .where('group_id', '=', msg.groupId)
              .where('device_id', 'in', part)
              .execute();
          }
          for (const part of chunks(newMembers, 200)) {
            await trx
              .insertInto('group_members')
              .values(
                part.map((m) => ({
                  group_id: msg.groupId,
                  user_id: m.userId,
                  device_id: m.deviceId,
                  joined_at: now,
                })),
              )
              .execute();
          }
          if (welcome !== undefined && newMembers.length > 0) {
            const wpk = await this.#insertMessage(trx, {
              group_id: msg.groupId,
              seq,
              msg_id: msg.msgId,
              sender_user: sender.userId,
              sender_device: sender.deviceId,
              kind: 'welcome',
              epoch: okEpoch,
              ok_epoch: okEpoch,
              body: welcome,
              created_at: now,
            });
            const added = newMembers.filter((m) => !blockers.has(m.userId)).map((m) => m.deviceId);
            await this.#fanOut(trx, wpk, added, now);
            recipients.push(...added);
          }
        }
        return { msgId: msg.msgId, seq, epoch: okEpoch, duplicate: false, recipients };
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        // The same (device, msgId) raced in: a retry of the same send, or a reuse (refused).
        const prior = await this.#priorSend(this.db, sender.deviceId, msg);
        if (prior !== undefined) return prior;
      }
      throw err;
    }
  }

  /**
   * Uses up one claim by `claimer` of a key package of `target` made within CLAIM_TTL_MS; FORBIDDEN
   * when there is none. The server cannot read a welcome, but it can insist that whoever adds a
   * device has fetched a key package of it: nobody is put into a fan-out list on a name alone.
   */
  async #useClaim(trx: Transaction<DB>, claimer: string, target: string, now: number): Promise<void> {
    let q = trx
      .selectFrom('keypackage_claims')
      .select('id')
      .where('claimer_device', '=', claimer)
      .where('target_device', '=', target)
      .where('claimed_at', '>', now - CLAIM_TTL_MS)
      .orderBy('id')
      .limit(1);
    if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
    const claim = await q.executeTakeFirst();
    if (claim === undefined) {
      throw fail(
        ErrorCode.Forbidden,
        `device ${target} can only be added with a key package this device claimed`,
        { deviceId: target },
      );
    }
    await trx
      .deleteFrom('keypackage_claims')
      .where('id', '=', parseRow(DbInt, claim.id, 'claim id'))
      .execute();
  }

  /**
   * The stored result of an earlier send of this (device, msgId), if any. The same msgId for
   * another group or kind is not a retry but a client reusing an id: BAD_REQUEST, never a silent
   * `ok` for a message that was not stored. (The body is not compared: a client that restarts
   * re-encrypts its outbox entry, so a genuine retry may carry other ciphertext.)
   */
  async #priorSend(
    db: Kysely<DB>,
    deviceId: string,
    msg: Pick<Outgoing, 'msgId' | 'groupId' | 'kind'>,
  ): Promise<SendResult | undefined> {
    const prior = await db
      .selectFrom('messages')
      .select(['seq', 'ok_epoch', 'group_id', 'kind'])
      .where('sender_device', '=', deviceId)
      .where('msg_id', '=', msg.msgId)
      // A literal, not a parameter: the unique index on (sender_device, msg_id) is partial (no
      // welcomes), and SQLite uses it only when it can see that the query implies its condition.
      .where(sql<boolean>`kind <> 'welcome'`)
      .executeTakeFirst();
    return priorResult(msg, prior);
  }

  /** A send that is not a commit, on PostgreSQL: `kolokol_send` (migration 0006), one round trip. */
  async #sendPg(
    sender: { userId: string; deviceId: string },
    msg: Outgoing,
    now: number,
    body: Buffer,
    franking: { franking_cf?: Buffer; franking_tag?: Buffer },
  ): Promise<SendResult> {
    let row: unknown;
    try {
      const r = await sql<unknown>`SELECT * FROM kolokol_send(${msg.groupId}, ${msg.msgId}, ${sender.userId},
        ${sender.deviceId}, ${msg.kind}, ${msg.epoch}, ${body}, ${now}, ${franking.franking_cf ?? null},
        ${franking.franking_tag ?? null})`.execute(this.db);
      row = r.rows[0];
    } catch (err) {
      if (isUniqueViolation(err)) {
        // The same (device, msgId) raced in: a retry of the same send, or a reuse (refused).
        const prior = await this.#priorSend(this.db, sender.deviceId, msg);
        if (prior !== undefined) return prior;
      }
      throw err;
    }
    const r = parseRow(PgSendRow, row, 'send');
    switch (r.status) {
      case 'unknown-group':
        throw refused.unknownGroup();
      case 'not-member':
        throw refused.notMember();
      case 'prior': {
        const prior = priorResult(msg, {
          seq: r.seq,
          ok_epoch: r.epoch,
          group_id: r.prior_group,
          kind: r.prior_kind,
        });
        if (prior === undefined) throw new ServerError('INTERNAL', 'a prior send without its row');
        return prior;
      }
      case 'future-epoch':
        if (r.epoch === undefined)
          throw new ServerError('INTERNAL', 'kolokol_send refused without the epoch');
        throw refused.futureEpoch(r.epoch, msg.epoch);
      case 'ok':
        if (r.seq === undefined || r.epoch === undefined)
          throw new ServerError('INTERNAL', 'kolokol_send stored a message without its seq');
        return {
          msgId: msg.msgId,
          seq: r.seq,
          epoch: r.epoch,
          duplicate: false,
          recipients: r.recipients ?? [],
        };
    }
  }

  /**
   * A send that is not a commit, on SQLite: what the transaction in `send` does for one, as
   * prepared statements that run inside a group-commit batch (sqlite-hot.ts, group-commit.ts).
   * Throwing rolls back this send's savepoint only.
   */
  #sendNow(
    sender: { userId: string; deviceId: string },
    msg: Outgoing,
    now: number,
    body: Buffer,
    franking: { franking_cf?: Buffer; franking_tag?: Buffer },
  ): SendResult {
    const hot = this.#hot;
    const g = hot.group.get(msg.groupId);
    if (g === undefined) throw refused.unknownGroup();
    const { epoch, next_seq: seq } = parseRow(GroupRow, g, 'group');
    const members = parseRow(MemberRows, hot.members.all(msg.groupId), 'member').sort(
      (a, b) =>
        a.joined_at - b.joined_at || (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0),
    );
    if (!members.some((m) => m.device_id === sender.deviceId)) {
      throw refused.notMember();
    }
    // Only after the membership check: a retry is answered for members only (review L2).
    const prior = priorResult(msg, hot.prior.get(sender.deviceId, msg.msgId));
    if (prior !== undefined) return prior;
    if (msg.epoch > epoch) {
      throw refused.futureEpoch(epoch, msg.epoch);
    }
    hot.bumpSeq.run(seq + 1, msg.groupId);
    const pk = hot.insertMessage.run(
      msg.groupId,
      seq,
      msg.msgId,
      sender.userId,
      sender.deviceId,
      msg.kind,
      msg.epoch,
      epoch,
      body,
      now,
      franking.franking_cf ?? null,
      franking.franking_tag ?? null,
    ).lastInsertRowid;
    const blockers = msg.kind === 'application' ? blockerSet(hot.blockers.all(sender.userId)) : NO_BLOCKERS;
    const recipients: string[] = [];
    for (const m of members) {
      if (m.device_id === sender.deviceId || blockers.has(m.user_id)) continue;
      hot.insertMailbox.run(m.device_id, pk, now);
      recipients.push(m.device_id);
    }
    return { msgId: msg.msgId, seq, epoch, duplicate: false, recipients };
  }

  async #insertMessage(trx: Transaction<DB>, values: Omit<DB['messages'], 'message_pk'>): Promise<number> {
    const row = await trx
      .insertInto('messages')
      .values(values)
      .returning('message_pk')
      .executeTakeFirstOrThrow();
    return parseRow(DbInt, row.message_pk, 'message pk');
  }

  async #fanOut(
    trx: Transaction<DB>,
    messagePk: number,
    devices: readonly string[],
    now: number,
  ): Promise<void> {
    for (const part of chunks(devices, 300)) {
      await trx
        .insertInto('mailbox')
        .values(part.map((d) => ({ device_id: d, message_pk: messagePk, created_at: now })))
        .execute();
    }
  }

  /**
   * Ids and body sizes of the first `limit` items of a device's mailbox, in mailbox order: what a
   * connection needs to decide what to push, without reading bodies it has already pushed.
   */
  async mailboxIndex(deviceId: string, limit: number): Promise<{ id: number; size: number }[]> {
    if (this.#sqlite !== undefined) {
      const rows = await this.#exclusive(() => this.#hot.mailboxIndex(limit).all(deviceId));
      return parseRow(IndexRows, rows, 'mailbox index');
    }
    const rows = await this.db
      .selectFrom('mailbox as mb')
      .innerJoin('messages as m', 'm.message_pk', 'mb.message_pk')
      .select((eb) => ['mb.id', eb.fn<number>('length', ['m.body']).as('size')])
      .where('mb.device_id', '=', deviceId)
      .orderBy('mb.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: parseRow(DbInt, r.id, 'mailbox id'),
      size: parseRow(DbInt, r.size, 'body size'),
    }));
  }

  /** The given items of a device's mailbox that are still there, with bodies, in mailbox order. */
  async mailboxItems(deviceId: string, ids: readonly number[]): Promise<StoredMailboxItem[]> {
    if (ids.length === 0) return [];
    if (this.#sqlite !== undefined) {
      const sorted = [...new Set(ids)].sort((a, b) => a - b);
      const rows = await this.#exclusive(() => {
        const hot = this.#hot;
        return sorted.flatMap((id) => hot.mailboxItem.all(id, deviceId));
      });
      return rows.map((r) => parseRow(SqliteMailboxJoinRow, r, 'mailbox'));
    }
    const rows = await this.#mailboxQuery(deviceId)
      .where('mb.id', 'in', [...ids])
      .execute();
    return rows.map((r) => parseRow(MailboxJoinRow, r, 'mailbox'));
  }

  #mailboxQuery(deviceId: string) {
    return this.db
      .selectFrom('mailbox as mb')
      .innerJoin('messages as m', 'm.message_pk', 'mb.message_pk')
      .select([
        'mb.id',
        'm.msg_id',
        'm.group_id',
        'm.seq',
        'm.kind',
        'm.epoch',
        'm.body',
        'm.sender_user',
        'm.sender_device',
        'm.created_at',
        'm.franking_cf',
        'm.franking_tag',
      ])
      .where('mb.device_id', '=', deviceId)
      .orderBy('mb.id');
  }

  /** The first `limit` items of a device's mailbox, in mailbox order. */
  async mailbox(deviceId: string, limit: number): Promise<StoredMailboxItem[]> {
    const rows = await this.#mailboxQuery(deviceId).limit(limit).execute();
    return rows.map((r) => parseRow(MailboxJoinRow, r, 'mailbox'));
  }

  /** Deletes the given items from this device's mailbox only; returns how many it deleted. */
  async ack(deviceId: string, ids: readonly number[]): Promise<number> {
    if (this.#writes !== undefined) {
      const unique = [...new Set(ids)];
      return this.#writes.run(() => {
        const hot = this.#hot;
        let deleted = 0;
        for (const id of unique) deleted += Number(hot.ack.run(id, deviceId).changes);
        return deleted;
      });
    }
    let n = 0;
    for (const part of chunks([...new Set(ids)], 500)) {
      const r = await this.db
        .deleteFrom('mailbox')
        .where('device_id', '=', deviceId)
        .where('id', 'in', part)
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }

  async mailboxSize(deviceId: string): Promise<number> {
    const row = await this.db
      .selectFrom('mailbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return parseRow(CountRow, row, 'count').n;
  }

  // ---- attachments ----

  async createAttachment(
    attachmentId: string,
    size: number,
    uploaderDevice: string,
    now: number,
  ): Promise<void> {
    await this.db
      .insertInto('attachments')
      .values({ attachment_id: attachmentId, size, uploader_device: uploaderDevice, created_at: now })
      .execute();
  }

  /** Bytes a device keeps on the server: its attachments plus the announced size of its unfinished uploads. */
  async attachmentBytes(deviceId: string): Promise<number> {
    const a = await this.db
      .selectFrom('attachments')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('n'))
      .where('uploader_device', '=', deviceId)
      .executeTakeFirst();
    const u = await this.db
      .selectFrom('uploads')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('n'))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return parseRow(CountRow, a, 'attachment bytes').n + parseRow(CountRow, u, 'upload bytes').n;
  }

  async attachmentSize(attachmentId: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('attachments')
      .select('size')
      .where('attachment_id', '=', attachmentId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(DbInt, row.size, 'attachment size');
  }

  /**
   * Forgets attachments uploaded before `cutoff` and returns their ids so the caller can delete
   * the files. Attachments follow the mailbox retention: past it, no message can point at them.
   */
  async expireAttachments(cutoff: number, limit = 1000): Promise<string[]> {
    const rows = await this.db
      .selectFrom('attachments')
      .select('attachment_id')
      .where('created_at', '<', cutoff)
      .limit(limit)
      .execute();
    const ids = rows.map((r) => parseRow(DbText, r.attachment_id, 'attachment id'));
    if (ids.length > 0) await this.db.deleteFrom('attachments').where('attachment_id', 'in', ids).execute();
    return ids;
  }

  // ---- chunked uploads ----

  async createUpload(u: {
    uploadId: string;
    attachmentId: string;
    deviceId: string;
    size: number;
    now: number;
  }): Promise<void> {
    await this.db
      .insertInto('uploads')
      .values({
        upload_id: u.uploadId,
        attachment_id: u.attachmentId,
        device_id: u.deviceId,
        size: u.size,
        received: 0,
        created_at: u.now,
      })
      .execute();
  }

  async upload(uploadId: string): Promise<Upload | undefined> {
    const row = await this.db
      .selectFrom('uploads')
      .selectAll()
      .where('upload_id', '=', uploadId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(UploadRow, row, 'upload');
  }

  async setUploadReceived(uploadId: string, received: number): Promise<void> {
    await this.db.updateTable('uploads').set({ received }).where('upload_id', '=', uploadId).execute();
  }

  async deleteUpload(uploadId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('uploads').where('upload_id', '=', uploadId).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /** Turns a finished upload into an attachment, in one transaction. */
  async completeUpload(upload: Upload, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('uploads').where('upload_id', '=', upload.uploadId).execute();
      await trx
        .insertInto('attachments')
        .values({
          attachment_id: upload.attachmentId,
          size: upload.size,
          uploader_device: upload.deviceId,
          created_at: now,
        })
        .execute();
    });
  }

  /** Forgets uploads started before `cutoff` and returns their ids (the caller deletes the files). */
  async expireUploads(cutoff: number, limit = 1000): Promise<string[]> {
    const rows = await this.db
      .selectFrom('uploads')
      .select('upload_id')
      .where('created_at', '<', cutoff)
      .limit(limit)
      .execute();
    const ids = rows.map((r) => parseRow(DbText, r.upload_id, 'upload id'));
    if (ids.length > 0) await this.db.deleteFrom('uploads').where('upload_id', 'in', ids).execute();
    return ids;
  }

  // ---- push subscriptions ----

  async putPushSubscription(
    deviceId: string,
    sub: { endpoint: string; keys: { p256dh: string; auth: string } },
    now: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('push_subscriptions').where('device_id', '=', deviceId).execute();
      await trx
        .insertInto('push_subscriptions')
        .values({
          device_id: deviceId,
          endpoint: sub.endpoint,
          p256dh: sub.keys.p256dh,
          auth: sub.keys.auth,
          created_at: now,
        })
        .execute();
    });
  }

  async pushSubscription(deviceId: string): Promise<PushSubscription | undefined> {
    const row = await this.db
      .selectFrom('push_subscriptions')
      .selectAll()
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(PushSubscriptionRow, row, 'push subscription');
  }

  /** With `endpoint`, only that subscription (a newer one of the device stays). */
  async deletePushSubscription(deviceId: string, endpoint?: string): Promise<void> {
    let q = this.db.deleteFrom('push_subscriptions').where('device_id', '=', deviceId);
    if (endpoint !== undefined) q = q.where('endpoint', '=', endpoint);
    await q.execute();
  }

  // ---- retention ----

  /** See README "Retention". */
  async sweep(
    now: number,
    retention: { maxAgeDays: number; maxItemsPerDevice: number },
  ): Promise<SweepResult> {
    const cutoff = now - retention.maxAgeDays * 24 * 60 * 60 * 1000;
    const expired = await this.db.deleteFrom('mailbox').where('created_at', '<', cutoff).executeTakeFirst();

    let trimmed = 0;
    const over = await this.db
      .selectFrom('mailbox')
      .select((eb) => ['device_id', eb.fn.countAll().as('n')])
      .groupBy('device_id')
      .having((eb) => eb.fn.countAll(), '>', retention.maxItemsPerDevice)
      .execute();
    for (const o of over) {
      const deviceId = parseRow(DbText, o.device_id, 'device id');
      const edge = await this.db
        .selectFrom('mailbox')
        .select('id')
        .where('device_id', '=', deviceId)
        .orderBy('id', 'desc')
        .limit(1)
        .offset(retention.maxItemsPerDevice)
        .executeTakeFirst();
      if (edge === undefined) continue;
      const r = await this.db
        .deleteFrom('mailbox')
        .where('device_id', '=', deviceId)
        .where('id', '<=', parseRow(DbInt, edge.id, 'mailbox id'))
        .executeTakeFirst();
      trimmed += Number(r.numDeletedRows);
    }

    const orphans = await this.db
      .deleteFrom('messages')
      .where('created_at', '<', now - IDEMPOTENCY_GRACE_MS)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('mailbox')
              .select('mailbox.id')
              .whereRef('mailbox.message_pk', '=', 'messages.message_pk'),
          ),
        ),
      )
      .executeTakeFirst();

    let other = 0;
    const count = (r: { numDeletedRows: bigint }) => {
      other += Number(r.numDeletedRows);
    };
    count(await this.db.deleteFrom('challenges').where('expires_at', '<=', now).executeTakeFirst());
    count(
      await this.db
        .deleteFrom('keypackage_claims')
        .where('claimed_at', '<=', now - CLAIM_TTL_MS)
        .executeTakeFirst(),
    );
    count(
      await this.db
        .deleteFrom('links')
        .where('expires_at', '<=', now - LINK_KEEP_MS)
        .executeTakeFirst(),
    );
    count(await this.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst());
    count(await this.db.deleteFrom('invites').where('expires_at', '<=', now).executeTakeFirst());
    count(
      await this.db
        .deleteFrom('accounts')
        .where('deleted_at', 'is not', null)
        .where('deleted_at', '<=', now - USERNAME_QUARANTINE_MS)
        .executeTakeFirst(),
    );
    return {
      expiredItems: Number(expired.numDeletedRows),
      trimmedItems: trimmed,
      orphanMessages: Number(orphans.numDeletedRows),
      other,
    };
  }
}

// The message path's rows on SQLite (sqlite-hot.ts).
const GroupRow = z.object({ epoch: SqliteInt, next_seq: SqliteInt });
const MemberRows = z.array(z.object({ user_id: DbText, device_id: DbText, joined_at: SqliteInt }));
const IndexRows = z.array(z.object({ id: SqliteInt, size: SqliteInt }));

/**
 * The answer to a send whose (device, msgId) is already stored, from that row's seq, ok_epoch,
 * group_id and kind. The same msgId for another group or kind is not a retry but a client reusing
 * an id: BAD_REQUEST, never a silent `ok` for a message that was not stored.
 */
function priorResult(
  msg: Pick<Outgoing, 'msgId' | 'groupId' | 'kind'>,
  row: unknown,
): SendResult | undefined {
  if (row === undefined) return undefined;
  const prior = parseRow(PriorRow, row, 'message');
  if (prior.group_id !== msg.groupId || prior.kind !== msg.kind) {
    throw fail(ErrorCode.BadRequest, 'this msgId was already used by this device for another message', {
      msgId: msg.msgId,
    });
  }
  return { msgId: msg.msgId, seq: prior.seq, epoch: prior.ok_epoch, duplicate: true, recipients: [] };
}
const PriorRow = z.object({ seq: DbInt, ok_epoch: DbInt, group_id: DbText, kind: DbText });
/** What `kolokol_send` (migration 0006) returns. */
const PgSendRow = z.object({
  status: z.enum(['ok', 'prior', 'unknown-group', 'not-member', 'future-epoch']),
  seq: DbIntOrNull,
  epoch: DbIntOrNull,
  recipients: z.array(DbText).nullable(),
  prior_group: DbTextOrNull,
  prior_kind: DbTextOrNull,
});

function fromB64url(text: string): Uint8Array {
  return Buffer.from(text, 'base64url');
}

const NO_BLOCKERS: ReadonlySet<string> = new Set();
const BlockerRows = z.array(z.object({ blocker_user: DbText }));

/** The accounts that blocked a sender, from rows of `blocks` (parsed: storage is input too). */
function blockerSet(rows: unknown): ReadonlySet<string> {
  const parsed = parseRow(BlockerRows, rows, 'blocks');
  return parsed.length === 0 ? NO_BLOCKERS : new Set(parsed.map((r) => r.blocker_user));
}
