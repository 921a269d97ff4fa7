/**
 * Operator commands that act on the database directly, for what no user can do over the API: the
 * first invite of an invite-only server has nobody to ask for it.
 */
import { mkdirSync } from 'node:fs';
import { resolveConfig, storeOptions } from './app.ts';
import type { ServerConfig } from './config.ts';
import { randomId, sha256Hex } from './crypto.ts';
import { Store } from './storage/store.ts';

export const ADMIN_INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Creates a single-use invite code as the operator; only its hash is stored. */
export async function createOperatorInvite(
  config: ServerConfig,
  now = Date.now(),
): Promise<{ code: string; expiresAt: number }> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = await Store.open(storeOptions(resolveConfig(config)));
  try {
    const code = randomId(18);
    const expiresAt = now + ADMIN_INVITE_TTL_MS;
    await store.createInvite(sha256Hex(code), 'operator', now, expiresAt);
    return { code, expiresAt };
  } finally {
    await store.close();
  }
}
