/**
 * The worker thread of checkpointer.ts: its own connection to the database file, copying the WAL
 * into the database (a PASSIVE checkpoint: it never waits for, nor blocks, the server's writer or
 * readers) every `intervalMs`, and fsyncing it, off the server's event loop.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';

const { path, intervalMs } = z
  .object({ path: z.string(), intervalMs: z.number().positive() })
  .parse(workerData);
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 1000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch {
    // Busy or failing this time: the next round tries again, and the server's own automatic
    // checkpoint (at a higher WAL size) keeps the WAL bounded meanwhile.
  }
}, intervalMs);

parentPort?.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
