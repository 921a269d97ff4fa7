import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/**
 * PostgreSQL only: `kolokol_send`, a message that is not a commit stored in one statement (issue 7).
 *
 * The transaction of `Store.send` is nine round trips (BEGIN, lock the group, members, an earlier
 * send of the msgId, bump the sequence, insert the message, blocks, fan-out, COMMIT), and on a
 * cluster every node's event loop takes a turn between each: under load a send held its group's
 * row lock for many milliseconds, and the nodes spent their CPU on driver and query-builder work.
 * This function is the same transaction run inside the database, one round trip, and its checks
 * and their order are those of `Store.send` and of SQLite's `#sendNow` (the storage suite runs
 * the same tests against all three). Refusals come back as a status, mapped to the API's errors
 * in TypeScript, so that the codes stay in one place (errors.ts).
 *
 * Written by hand because no library does this: it is our schema's transaction, in SQL.
 */
export function m0006(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`
        CREATE FUNCTION kolokol_send(
          p_group text, p_msg_id text, p_sender_user text, p_sender_device text, p_kind text,
          p_epoch bigint, p_body bytea, p_now bigint, p_franking_cf bytea, p_franking_tag bytea,
          OUT status text, OUT seq bigint, OUT epoch bigint, OUT recipients text[],
          OUT prior_group text, OUT prior_kind text)
        LANGUAGE plpgsql AS $fn$
        DECLARE
          g_epoch bigint;
          g_seq bigint;
          pk bigint;
        BEGIN
          SELECT g.epoch, g.next_seq INTO g_epoch, g_seq FROM groups g WHERE g.group_id = p_group FOR UPDATE;
          IF NOT FOUND THEN
            status := 'unknown-group';
            RETURN;
          END IF;
          IF NOT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = p_group AND m.device_id = p_sender_device) THEN
            status := 'not-member';
            RETURN;
          END IF;
          -- Only after the membership check: a retry is answered for members only (review L2).
          SELECT m.seq, m.ok_epoch, m.group_id, m.kind INTO seq, epoch, prior_group, prior_kind
            FROM messages m
            WHERE m.sender_device = p_sender_device AND m.msg_id = p_msg_id AND m.kind <> 'welcome';
          IF FOUND THEN
            status := 'prior';
            RETURN;
          END IF;
          IF p_epoch > g_epoch THEN
            status := 'future-epoch';
            epoch := g_epoch;
            RETURN;
          END IF;
          UPDATE groups SET next_seq = g_seq + 1 WHERE group_id = p_group;
          INSERT INTO messages (group_id, seq, msg_id, sender_user, sender_device, kind, epoch, ok_epoch,
                                body, created_at, franking_cf, franking_tag)
            VALUES (p_group, g_seq, p_msg_id, p_sender_user, p_sender_device, p_kind, p_epoch, g_epoch,
                    p_body, p_now, p_franking_cf, p_franking_tag)
            RETURNING message_pk INTO pk;
          -- Everyone but the sender; who blocked the sender gets none of its application messages.
          WITH r AS (
            INSERT INTO mailbox (device_id, message_pk, created_at)
            SELECT m.device_id, pk, p_now
              FROM group_members m
              WHERE m.group_id = p_group AND m.device_id <> p_sender_device
                AND (p_kind <> 'application' OR NOT EXISTS (
                  SELECT 1 FROM blocks b WHERE b.blocked_user = p_sender_user AND b.blocker_user = m.user_id))
            RETURNING device_id
          )
          SELECT coalesce(array_agg(r.device_id), ARRAY[]::text[]) INTO recipients FROM r;
          status := 'ok';
          seq := g_seq;
          epoch := g_epoch;
        END
        $fn$`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`DROP FUNCTION kolokol_send`.execute(db);
    },
  };
}
