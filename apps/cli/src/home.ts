/**
 * A CLI home folder holds the SDK's SQLite store (kolokol.db); the CLI keeps its own small state
 * (the listen cursor) in the store's kv collection so a home is one file.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Store } from '@kolokol/sdk';
import { z } from 'zod';
import { CliError } from './errors.ts';

export const resolveHome = (flag: string | undefined, env: Record<string, string | undefined>): string =>
  resolve(flag ?? env.KOLOKOL_HOME ?? join(homedir(), '.kolokol'));

export const dbPath = (home: string): string => join(home, 'kolokol.db');

export function ensureHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new CliError('IO', `cannot create home folder ${home}: ${(cause as Error).message}`, { cause });
  }
}

/** Per conversation: the highest server seq that `listen` has printed. */
const Cursor = z.record(z.string(), z.number().int());
export type Cursor = z.infer<typeof Cursor>;
const CURSOR_KEY = 'cli.listen.cursor';

export async function readCursor(store: Store): Promise<Cursor> {
  const parsed = Cursor.safeParse(await store.getKv(CURSOR_KEY));
  return parsed.success ? parsed.data : {};
}

export async function writeCursor(store: Store, cursor: Cursor): Promise<void> {
  await store.setKv(CURSOR_KEY, cursor);
}
