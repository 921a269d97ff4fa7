import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * The statements of the message path on SQLite (a send that is not a commit, an ack, the mailbox
 * reads of a connection's pump), prepared once. Building each query with Kysely cost more CPU than
 * running it; these run synchronously inside a group-commit batch (group-commit.ts) or under the
 * connection lock. The same queries, built with Kysely, serve PostgreSQL (store.ts).
 */
export class SqliteHot {
  readonly group: StatementSync;
  readonly members: StatementSync;
  readonly prior: StatementSync;
  readonly bumpSeq: StatementSync;
  readonly insertMessage: StatementSync;
  readonly insertMailbox: StatementSync;
  readonly ack: StatementSync;
  readonly mailboxItem: StatementSync;
  readonly blockers: StatementSync;
  readonly #db: DatabaseSync;
  readonly #mailboxIndex = new Map<number, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.group = db.prepare('select epoch, next_seq from groups where group_id = ?');
    // Sorted by the caller (joined_at, then device_id): an ORDER BY here made SQLite build a
    // temporary b-tree on every send, for the two or few rows of a group.
    this.members = db.prepare('select user_id, device_id, joined_at from group_members where group_id = ?');
    // The literal 'welcome' (not a parameter) lets SQLite use the partial unique index
    // messages_idempotency; with a bound value it scans every message.
    this.prior = db.prepare(
      "select seq, ok_epoch, group_id, kind from messages where sender_device = ? and msg_id = ? and kind <> 'welcome'",
    );
    this.bumpSeq = db.prepare('update groups set next_seq = ? where group_id = ?');
    this.insertMessage = db.prepare(
      'insert into messages (group_id, seq, msg_id, sender_user, sender_device, kind, epoch, ok_epoch, body, created_at, franking_cf, franking_tag) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertMailbox = db.prepare(
      'insert into mailbox (device_id, message_pk, created_at) values (?, ?, ?)',
    );
    this.ack = db.prepare('delete from mailbox where id = ? and device_id = ?');
    // Who blocked the sender (index blocks_blocked): left out of its application messages.
    this.blockers = db.prepare('select blocker_user from blocks where blocked_user = ?');
    this.mailboxItem = db.prepare(
      'select mb.id, m.msg_id, m.group_id, m.seq, m.kind, m.epoch, m.body, m.sender_user, m.sender_device, m.created_at, m.franking_cf, m.franking_tag from mailbox as mb inner join messages as m on m.message_pk = mb.message_pk where mb.id = ? and mb.device_id = ?',
    );
  }

  /**
   * The first `limit` ids and body sizes of a device's mailbox. The limit is written into the SQL
   * (one statement per value; callers use one or two): with `limit ?` SQLite spent more time on
   * the bound limit than on the rest of the query (12 µs against 5 µs a call, measured).
   */
  mailboxIndex(limit: number): StatementSync {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`bad limit ${limit}`);
    let st = this.#mailboxIndex.get(limit);
    if (st === undefined) {
      st = this.#db.prepare(
        `select mb.id, length(m.body) as size from mailbox as mb inner join messages as m on m.message_pk = mb.message_pk where mb.device_id = ? order by mb.id limit ${limit}`,
      );
      this.#mailboxIndex.set(limit, st);
    }
    return st;
  }
}
