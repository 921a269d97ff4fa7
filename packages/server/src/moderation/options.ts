/**
 * Settings of moderation (issue 6): the franking key and the limits on new accounts reaching
 * strangers. Kept beside config.ts the way transport/options.ts is.
 */
import type { ServerError } from '../errors.ts';
import { MIN_FRANKING_KEY_CHARS } from './franking.ts';

export interface ModerationConfig {
  /** HMAC key of franking tags; default generated into `<dataDir>/franking-key`. Same on every node. */
  frankingKey?: string;
  /** An account younger than this many days is limited in reaching strangers (0 = never). */
  newAccountDays: number;
  /** Strangers (no shared group) such an account may claim key packages of per 24 hours. */
  strangersPerDay: number;
  /** How often a node looks for notices an operator made (the CLI works on the database). */
  noticePollMs: number;
}

export const defaultModeration: ModerationConfig = {
  newAccountDays: 7,
  strangersPerDay: 20,
  noticePollMs: 5000,
};

export const moderationSettings = [
  {
    flag: '--franking-key',
    env: 'KOLOKOL_FRANKING_KEY',
    key: 'frankingKey',
    help: `message franking key, ${MIN_FRANKING_KEY_CHARS}+ chars (prefer the environment)`,
    default: '(generated, DATA/franking-key)',
  },
  {
    flag: '--new-account-days',
    env: 'KOLOKOL_NEW_ACCOUNT_DAYS',
    key: 'newAccountDays',
    help: 'accounts younger than this are limited in reaching strangers (0 = no limit)',
    default: String(defaultModeration.newAccountDays),
  },
  {
    flag: '--new-account-strangers-per-day',
    env: 'KOLOKOL_NEW_ACCOUNT_STRANGERS_PER_DAY',
    key: 'newAccountStrangersPerDay',
    help: 'strangers a new account may reach per 24 hours',
    default: String(defaultModeration.strangersPerDay),
  },
] as const;

/** Reads the settings above; `raw` and `bad` are loadConfig's helpers. */
export function loadModerationConfig(
  raw: (key: string) => unknown,
  bad: (key: string, why: string, got: unknown) => ServerError,
): { moderation: Partial<ModerationConfig> } {
  const int = (key: string, max: number): number | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw bad(key, `must be 0..${max}`, v);
    return n;
  };
  const out: Partial<ModerationConfig> = {};
  const key = raw('frankingKey');
  if (key !== undefined) {
    if (typeof key !== 'string' || key.trim().length < MIN_FRANKING_KEY_CHARS) {
      throw bad('frankingKey', `needs at least ${MIN_FRANKING_KEY_CHARS} characters`, '(redacted)');
    }
    out.frankingKey = key.trim();
  }
  const days = int('newAccountDays', 3650);
  if (days !== undefined) out.newAccountDays = days;
  const perDay = int('newAccountStrangersPerDay', 100_000);
  if (perDay !== undefined) out.strangersPerDay = perDay;
  return { moderation: out };
}
