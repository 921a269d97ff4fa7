import { readFileSync } from 'node:fs';
import { Limits } from '@kolokol/protocol';
import { ServerError } from './errors.ts';
import { loadModerationConfig, type ModerationConfig, moderationSettings } from './moderation/options.ts';
import type { PushConfig } from './push.ts';
import { loadTransportConfig, type TransportConfig, transportSettings } from './transport/options.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';

export interface RateLimitConfig {
  /** Registrations per client IP per window. */
  registrationsPerIp: number;
  /** Login challenges per (existing) device per window. */
  challengesPerDevice: number;
  /** Login challenges for unknown device ids, per client IP per window. */
  challengesUnknownPerIp: number;
  /** Key package claims per claiming account per window, and per (claiming account, target user). */
  claimsPerClaimer: number;
  claimsPerPair: number;
  windowMs: number;
  /** Keys each limiter remembers at most; above that the oldest are forgotten. */
  maxKeys: number;
}

/** Knobs for tests and operators who know what they do; defaults suit production. */
export interface TuningConfig {
  helloTimeoutMs: number;
  /** WebSocket ping interval; a peer that misses one pong is terminated. */
  keepaliveMs: number;
  sweepIntervalMs: number;
  /** Also re-scan every connected device's mailbox this often (a safety net for lost wake-ups). */
  rescanMs: number;
  /** Stop pushing while a socket has more than this many bytes queued... */
  sendBufferSoftBytes: number;
  /** ...and close it with TooSlow when it stays above that for this long. */
  slowClientMs: number;
  /** Chunk size offered for chunked attachment uploads. */
  uploadChunkBytes: number;
  /** An upload whose body sends nothing for this long is cut off (a per-chunk idle timeout). */
  uploadIdleMs: number;
  /** Fastify requestTimeout: the whole of one request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** Fastify connectionTimeout: an HTTP socket idle this long is closed. */
  connectionTimeoutMs: number;
  /** A TLS handshake on the app port must finish within this (slowloris-style clients). */
  tlsHandshakeTimeoutMs: number;
  /**
   * Mailbox bytes pushed to one connection and not yet acknowledged (besides the item window of
   * Limits.maxInFlight). One item larger than this still goes out when nothing else is in flight.
   */
  maxInFlightBytes: number;
  /** Live sockets per device; a new one closes the oldest (TooManyConnections). */
  maxConnectionsPerDevice: number;
  /** Sockets per client IP that have not finished `hello`; more are refused with HTTP 429. */
  maxUnauthenticatedPerIp: number;
  /** Incoming frames (or bytes) received and not yet handled, above which the socket stops being read. */
  maxPendingFrames: number;
  maxPendingBytes: number;
}

export type BusConfig =
  | { kind: 'local' }
  | {
      kind: 'nats';
      /** `nats://[user:password@]host:port` or `tls://…`; several for a NATS cluster. */
      servers: string[];
      /** Subject prefix (default `kolokol`): `<prefix>.dev.<deviceId>`. */
      subjectPrefix?: string;
    };

/** TLS, the embedded TURN relay and the public host: see transport/options.ts. */
export interface ServerConfig extends TransportConfig {
  host: string;
  /** 0 = a random free port. */
  port: number;
  dataDir: string;
  storage: { kind: 'sqlite' } | { kind: 'postgres'; url: string; schema?: string };
  /** How nodes tell each other about new mailbox items: in process (default) or NATS (a cluster). */
  bus?: BusConfig;
  registration: 'open' | 'invite';
  maxAttachmentBytes: number;
  /** Bytes of attachments (and unfinished uploads) one device may keep on the server. */
  attachmentQuotaBytes: number;
  /**
   * Take the client address from X-Forwarded-For: false (default: the socket's address), true
   * (trust every proxy: the left-most address), or the number of proxy hops in front of us.
   */
  trustProxy: boolean | number;
  retention: { maxAgeDays: number; maxItemsPerDevice: number };
  keyPackageLowWatermark: number;
  logLevel: LogLevel;
  sessionTtlDays: number;
  name: string;
  /** SQLite only: 'normal' (default, WAL: durable across process crashes) or 'full' (also power loss). */
  sqliteSynchronous?: 'normal' | 'full';
  /** Web Push; on by default with VAPID keys kept in `<dataDir>/vapid.json`. */
  push?: PushConfig;
  rateLimits?: Partial<RateLimitConfig>;
  tuning?: Partial<TuningConfig>;
  /** Franking key and new-account limits: see moderation/options.ts. */
  moderation?: Partial<ModerationConfig>;
}

export const defaultConfig: ServerConfig = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './data',
  storage: { kind: 'sqlite' },
  registration: 'open',
  maxAttachmentBytes: 100 * 1024 * 1024,
  attachmentQuotaBytes: 1024 * 1024 * 1024,
  trustProxy: false,
  retention: { maxAgeDays: 30, maxItemsPerDevice: 10_000 },
  keyPackageLowWatermark: 10,
  logLevel: 'info',
  sessionTtlDays: 90,
  name: 'Kolokol',
  sqliteSynchronous: 'normal',
};

export const defaultRateLimits: RateLimitConfig = {
  registrationsPerIp: 100,
  challengesPerDevice: 60,
  challengesUnknownPerIp: 100,
  claimsPerClaimer: 300,
  claimsPerPair: 20,
  windowMs: 10 * 60 * 1000,
  maxKeys: 100_000,
};

export const defaultTuning: TuningConfig = {
  helloTimeoutMs: 10_000,
  keepaliveMs: 30_000,
  sweepIntervalMs: 10 * 60 * 1000,
  rescanMs: 30_000,
  sendBufferSoftBytes: 2 * Limits.maxFrameBytes,
  slowClientMs: 30_000,
  uploadChunkBytes: 1024 * 1024,
  uploadIdleMs: 30_000,
  requestTimeoutMs: 10 * 60 * 1000,
  connectionTimeoutMs: 2 * 60 * 1000,
  tlsHandshakeTimeoutMs: 10_000,
  maxInFlightBytes: 8 * 1024 * 1024,
  maxConnectionsPerDevice: 4,
  maxUnauthenticatedPerIp: 32,
  maxPendingFrames: 32,
  maxPendingBytes: 8 * 1024 * 1024,
};

/** One setting: its flag, environment variable and key in the JSON config file. */
interface Setting {
  flag: string;
  env: string;
  key: string;
  help: string;
  default: string;
}

export const settings: readonly Setting[] = [
  {
    flag: '--config',
    env: 'KOLOKOL_CONFIG',
    key: '',
    help: 'JSON config file (keys as below)',
    default: '(none)',
  },
  {
    flag: '--host',
    env: 'KOLOKOL_HOST',
    key: 'host',
    help: 'address to bind; 0.0.0.0 for all',
    default: '127.0.0.1',
  },
  { flag: '--port', env: 'KOLOKOL_PORT', key: 'port', help: 'TCP port, 0 = random', default: '8080' },
  {
    flag: '--data',
    env: 'KOLOKOL_DATA_DIR',
    key: 'dataDir',
    help: 'data folder (SQLite db, attachments)',
    default: './data',
  },
  { flag: '--storage', env: 'KOLOKOL_STORAGE', key: 'storage', help: 'sqlite | postgres', default: 'sqlite' },
  {
    flag: '--database-url',
    env: 'KOLOKOL_DATABASE_URL',
    key: 'databaseUrl',
    help: 'PostgreSQL URL',
    default: '(none)',
  },
  {
    flag: '--database-schema',
    env: 'KOLOKOL_DATABASE_SCHEMA',
    key: 'databaseSchema',
    help: 'PostgreSQL schema',
    default: 'public',
  },
  { flag: '--bus', env: 'KOLOKOL_BUS', key: 'bus', help: 'local | nats (a cluster)', default: 'local' },
  {
    flag: '--nats-url',
    env: 'KOLOKOL_NATS_URL',
    key: 'natsUrl',
    help: 'NATS server(s), comma-separated nats:// URLs',
    default: '(none)',
  },
  {
    flag: '--nats-prefix',
    env: 'KOLOKOL_NATS_PREFIX',
    key: 'natsPrefix',
    help: 'NATS subject prefix',
    default: 'kolokol',
  },
  {
    flag: '--registration',
    env: 'KOLOKOL_REGISTRATION',
    key: 'registration',
    help: 'open | invite',
    default: 'open',
  },
  {
    flag: '--max-attachment-bytes',
    env: 'KOLOKOL_MAX_ATTACHMENT_BYTES',
    key: 'maxAttachmentBytes',
    help: 'largest attachment',
    default: '104857600',
  },
  {
    flag: '--attachment-quota-bytes',
    env: 'KOLOKOL_ATTACHMENT_QUOTA_BYTES',
    key: 'attachmentQuotaBytes',
    help: 'attachment bytes one device may keep',
    default: '1073741824',
  },
  {
    flag: '--trust-proxy',
    env: 'KOLOKOL_TRUST_PROXY',
    key: 'trustProxy',
    help: 'client IP from X-Forwarded-For: off | on | number of proxy hops',
    default: 'off',
  },
  {
    flag: '--retention-days',
    env: 'KOLOKOL_RETENTION_DAYS',
    key: 'retentionDays',
    help: 'undelivered items older than this are dropped',
    default: '30',
  },
  {
    flag: '--retention-max-items',
    env: 'KOLOKOL_RETENTION_MAX_ITEMS',
    key: 'retentionMaxItems',
    help: 'mailbox cap per device (oldest dropped)',
    default: '10000',
  },
  {
    flag: '--keypackage-low-watermark',
    env: 'KOLOKOL_KEYPACKAGE_LOW_WATERMARK',
    key: 'keyPackageLowWatermark',
    help: 'warn a device below this many key packages',
    default: '10',
  },
  {
    flag: '--session-ttl-days',
    env: 'KOLOKOL_SESSION_TTL_DAYS',
    key: 'sessionTtlDays',
    help: 'login session lifetime',
    default: '90',
  },
  {
    flag: '--log-level',
    env: 'KOLOKOL_LOG_LEVEL',
    key: 'logLevel',
    help: 'fatal|error|warn|info|debug|silent',
    default: 'info',
  },
  {
    flag: '--name',
    env: 'KOLOKOL_NAME',
    key: 'name',
    help: 'server name shown to clients',
    default: 'Kolokol',
  },
  {
    flag: '--sqlite-synchronous',
    env: 'KOLOKOL_SQLITE_SYNCHRONOUS',
    key: 'sqliteSynchronous',
    help: 'normal | full',
    default: 'normal',
  },
  { flag: '--push', env: 'KOLOKOL_PUSH', key: 'push', help: 'Web Push: on | off', default: 'on' },
  {
    flag: '--vapid-public-key',
    env: 'KOLOKOL_VAPID_PUBLIC_KEY',
    key: 'vapidPublicKey',
    help: 'VAPID public key (default: generated into DATA/vapid.json)',
    default: '(generated)',
  },
  {
    flag: '--vapid-private-key',
    env: 'KOLOKOL_VAPID_PRIVATE_KEY',
    key: 'vapidPrivateKey',
    help: 'VAPID private key (with --vapid-public-key)',
    default: '(generated)',
  },
  {
    flag: '--vapid-subject',
    env: 'KOLOKOL_VAPID_SUBJECT',
    key: 'vapidSubject',
    help: 'VAPID contact, mailto: or https: URL',
    default: 'mailto:admin@localhost',
  },
  ...transportSettings,
  ...moderationSettings,
];

function settingFor(key: string): Setting {
  const s = settings.find((x) => x.key === key);
  if (s === undefined) throw new ServerError('CONFIG', `unknown setting ${key}`);
  return s;
}

function bad(key: string, why: string, got: unknown): ServerError {
  const s = settingFor(key);
  return new ServerError(
    'CONFIG',
    `invalid setting ${s.flag} (${s.env}): ${why}, got ${JSON.stringify(got)}`,
  );
}

/** Parses `--flag value` and `--flag=value` pairs; an unknown flag is a config error. */
function parseArgv(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const s = settings.find((x) => x.flag === flag);
    if (s === undefined)
      throw new ServerError('CONFIG', `unknown option ${JSON.stringify(arg)} (see --help)`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined)
      throw new ServerError('CONFIG', `invalid setting ${s.flag} (${s.env}): needs a value`);
    out.set(s.key === '' ? 'config' : s.key, value);
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --config (KOLOKOL_CONFIG): cannot read ${JSON.stringify(path)}`,
      {
        cause,
      },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --config (KOLOKOL_CONFIG): ${JSON.stringify(path)} is not JSON`,
      {
        cause,
      },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --config (KOLOKOL_CONFIG): ${JSON.stringify(path)} must hold an object`,
    );
  }
  const known = new Set(settings.map((s) => s.key).filter((k) => k !== ''));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) {
      throw new ServerError(
        'CONFIG',
        `invalid setting --config (KOLOKOL_CONFIG): unknown key ${JSON.stringify(k)}`,
      );
    }
    out[k] = v;
  }
  return out;
}

/**
 * Builds the configuration from defaults < config file < environment < command line. Throws
 * ServerError('CONFIG') with a message that names the bad setting by flag and variable.
 */
export function loadConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  file?: string,
): ServerConfig {
  const args = parseArgv(argv);
  const configPath = args.get('config') ?? env.KOLOKOL_CONFIG ?? file;
  const fromFile = configPath !== undefined && configPath !== '' ? readConfigFile(configPath) : {};

  const raw = (key: string): unknown => {
    const s = settingFor(key);
    const a = args.get(key);
    if (a !== undefined) return a;
    const e = env[s.env];
    if (e !== undefined && e !== '') return e;
    return fromFile[key];
  };
  const str = (key: string, fallback: string): string => {
    const v = raw(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v.trim() === '') throw bad(key, 'must be a non-empty string', v);
    return v.trim();
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const v = raw(key);
    if (v === undefined) return fallback;
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(key, `must be ${min}..${max}`, v);
    return n;
  };
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[]): T => {
    const v = raw(key);
    if (v === undefined) return fallback;
    const found = allowed.find((a) => a === v);
    if (found === undefined) throw bad(key, `must be one of ${allowed.join(', ')}`, v);
    return found;
  };

  const trustProxy = (): boolean | number => {
    const v = raw('trustProxy');
    if (v === undefined || v === 'off' || v === false) return false;
    if (v === 'on' || v === true) return true;
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 0 || n > 32)
      throw bad('trustProxy', 'must be off, on or 0..32 hops', v);
    return n === 0 ? false : n;
  };
  const storageKind = oneOf('storage', 'sqlite', ['sqlite', 'postgres'] as const);
  let storage: ServerConfig['storage'] = { kind: 'sqlite' };
  if (storageKind === 'postgres') {
    const url = raw('databaseUrl');
    if (url === undefined) throw bad('databaseUrl', 'required with --storage postgres', url);
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      throw bad('databaseUrl', 'must be a postgres:// URL', '(redacted)');
    }
    const schema = raw('databaseSchema');
    if (schema !== undefined) {
      if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
        throw bad('databaseSchema', 'must match [a-z_][a-z0-9_]*', schema);
      }
      storage = { kind: 'postgres', url, schema };
    } else storage = { kind: 'postgres', url };
  }

  const bus = (): BusConfig => {
    if (oneOf('bus', 'local', ['local', 'nats'] as const) === 'local') return { kind: 'local' };
    // Each node would have its own SQLite file: nudges from other nodes would point at nothing.
    if (storage.kind !== 'postgres') throw bad('bus', 'nats needs --storage postgres', 'nats');
    const urls = raw('natsUrl');
    if (urls === undefined) throw bad('natsUrl', 'required with --bus nats', urls);
    if (typeof urls !== 'string') throw bad('natsUrl', 'must be comma-separated nats:// URLs', urls);
    const servers = urls
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    const valid = (u: string) => {
      if (!/^(nats|tls):\/\/\S+$/.test(u)) return false;
      try {
        return new URL(u).hostname !== '';
      } catch {
        return false;
      }
    };
    if (servers.length === 0 || !servers.every(valid)) {
      // A URL may hold a password: name the rule, not the value.
      throw bad('natsUrl', 'must be comma-separated nats://host:port (or tls://) URLs', '(redacted)');
    }
    const prefix = raw('natsPrefix');
    if (prefix === undefined) return { kind: 'nats', servers };
    if (typeof prefix !== 'string' || !/^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}$/.test(prefix)) {
      throw bad('natsPrefix', 'must be dot-separated tokens of A-Z a-z 0-9 _ -', prefix);
    }
    return { kind: 'nats', servers, subjectPrefix: prefix };
  };

  const d = defaultConfig;
  const push: PushConfig = { enabled: oneOf('push', 'on', ['on', 'off'] as const) === 'on' };
  const vapidPublic = raw('vapidPublicKey');
  const vapidPrivate = raw('vapidPrivateKey');
  if ((vapidPublic === undefined) !== (vapidPrivate === undefined)) {
    throw bad(
      vapidPublic === undefined ? 'vapidPublicKey' : 'vapidPrivateKey',
      'give both VAPID keys or neither',
      '(redacted)',
    );
  }
  if (vapidPublic !== undefined) push.vapidPublicKey = str('vapidPublicKey', '');
  if (vapidPrivate !== undefined) push.vapidPrivateKey = str('vapidPrivateKey', '');
  const subject = raw('vapidSubject');
  if (subject !== undefined) {
    if (typeof subject !== 'string' || !/^(mailto:|https:\/\/)\S+$/.test(subject.trim())) {
      throw bad('vapidSubject', 'must be a mailto: or https:// URL', subject);
    }
    push.subject = subject.trim();
  }
  return {
    host: str('host', d.host),
    port: int('port', d.port, 0, 65535),
    dataDir: str('dataDir', d.dataDir),
    storage,
    bus: bus(),
    registration: oneOf('registration', d.registration, ['open', 'invite'] as const),
    maxAttachmentBytes: int('maxAttachmentBytes', d.maxAttachmentBytes, 1, Number.MAX_SAFE_INTEGER),
    attachmentQuotaBytes: int('attachmentQuotaBytes', d.attachmentQuotaBytes, 1, Number.MAX_SAFE_INTEGER),
    trustProxy: trustProxy(),
    retention: {
      maxAgeDays: int('retentionDays', d.retention.maxAgeDays, 1, 36500),
      maxItemsPerDevice: int('retentionMaxItems', d.retention.maxItemsPerDevice, 1, 100_000_000),
    },
    keyPackageLowWatermark: int('keyPackageLowWatermark', d.keyPackageLowWatermark, 0, 10_000),
    logLevel: oneOf('logLevel', d.logLevel, ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const),
    sessionTtlDays: int('sessionTtlDays', d.sessionTtlDays, 1, 3650),
    name: str('name', d.name),
    sqliteSynchronous: oneOf('sqliteSynchronous', 'normal', ['normal', 'full'] as const),
    push,
    ...loadTransportConfig(raw, bad),
    ...loadModerationConfig(raw, bad),
  };
}

/** `--help` text, generated from the same table so it cannot drift. */
export function helpText(): string {
  const rows = settings.map(
    (s) =>
      `  ${`${s.flag} ${s.key === '' ? 'FILE' : 'VALUE'}`.padEnd(34)}${s.env.padEnd(34)}${s.help} [${s.default}]`,
  );
  return [
    'Usage: kolokol-server [options]   (npm start -- [options])',
    '       kolokol-server invite [options]   print a single-use invite code (for --registration invite)',
    '       kolokol-server reports list|show ID|resolve ID --warn|--suspend|--dismiss [--reason TEXT] [options]',
    '       kolokol-server appeals list | suspension lift USER | limits lift USER [options]',
    '                      the report queue, suspensions and new-account limits (USER: username or id)',
    '',
    'Every option can also be set by its environment variable or as a key in the --config JSON file.',
    'Precedence: command line > environment > config file > default.',
    '',
    ...rows,
    `  ${'--help'.padEnd(68)}this text`,
    '',
  ].join('\n');
}
