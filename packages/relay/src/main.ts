#!/usr/bin/env node
/**
 * `kolokol-relay`: the relay as its own process, for deployments that run TURN apart from the app
 * server. Flags override environment variables (KOLOKOL_RELAY_*); the secret is best given through
 * the environment or a file, since flags show up in `ps`. Prints one "listening" line on stdout.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRelay, type RelayConfig, RelayError, relayConfigSchema } from './index.ts';

const help = `Usage: kolokol-relay [options]

  --secret S               shared secret for REST credentials   (KOLOKOL_RELAY_SECRET)
  --secret-file PATH       read the secret from a file          (KOLOKOL_RELAY_SECRET_FILE)
  --realm R                default kolokol                      (KOLOKOL_RELAY_REALM)
  --host IP                listen address, default 0.0.0.0      (KOLOKOL_RELAY_HOST)
  --udp-port N             default 3478, 0 = any, "off"         (KOLOKOL_RELAY_UDP_PORT)
  --tcp-port N             default 3478, 0 = any, "off"         (KOLOKOL_RELAY_TCP_PORT)
  --relay-address IP       address advertised for relayed ports (KOLOKOL_RELAY_ADDRESS)
  --relay-bind-address IP  address relay sockets bind to        (KOLOKOL_RELAY_BIND_ADDRESS)
  --port-range MIN-MAX     ports for relay sockets              (KOLOKOL_RELAY_PORT_RANGE)
  --max-lifetime S         allocation lifetime cap, seconds     (KOLOKOL_RELAY_MAX_LIFETIME)
  --max-allocations N                                           (KOLOKOL_RELAY_MAX_ALLOCATIONS)
  --max-allocations-per-user N                                  (KOLOKOL_RELAY_MAX_ALLOCATIONS_PER_USER)
  --bandwidth BYTES        per allocation, bytes per second     (KOLOKOL_RELAY_BANDWIDTH)
  --allow-peer CIDR        relay to this range although special (KOLOKOL_RELAY_ALLOW_PEERS, comma-separated)
  --deny-peer CIDR         refuse this range too                (KOLOKOL_RELAY_DENY_PEERS, comma-separated)
  --allow-loopback-peers   for tests only                       (KOLOKOL_RELAY_ALLOW_LOOPBACK_PEERS=1)
`;

function fail(message: string): never {
  process.stderr.write(`kolokol-relay: ${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        secret: { type: 'string' },
        'secret-file': { type: 'string' },
        realm: { type: 'string' },
        host: { type: 'string' },
        'udp-port': { type: 'string' },
        'tcp-port': { type: 'string' },
        'relay-address': { type: 'string' },
        'relay-bind-address': { type: 'string' },
        'port-range': { type: 'string' },
        'max-lifetime': { type: 'string' },
        'max-allocations': { type: 'string' },
        'max-allocations-per-user': { type: 'string' },
        bandwidth: { type: 'string' },
        'allow-peer': { type: 'string', multiple: true },
        'deny-peer': { type: 'string', multiple: true },
        'allow-loopback-peers': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
})();

if (values.help === true) {
  process.stdout.write(help);
  process.exit(0);
}

const env = process.env;
const pick = (flag: string | undefined, name: string): string | undefined => flag ?? env[name];
const list = (flag: string[] | undefined, name: string): string[] =>
  flag ??
  (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** Numbers stay strings here when malformed, so the schema reports them by name. */
function number(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}
function portOption(text: string | undefined): number | false | undefined {
  return text === 'off' ? false : number(text);
}

let secret = pick(values.secret, 'KOLOKOL_RELAY_SECRET');
const secretFile = pick(values['secret-file'], 'KOLOKOL_RELAY_SECRET_FILE');
if (secret === undefined && secretFile !== undefined) {
  try {
    secret = readFileSync(secretFile, 'utf8').trim();
  } catch (err) {
    fail(`cannot read the secret file: ${err instanceof Error ? err.message : String(err)}`);
  }
}
const relayAddress = pick(values['relay-address'], 'KOLOKOL_RELAY_ADDRESS');
if (secret === undefined) fail('--secret, --secret-file or KOLOKOL_RELAY_SECRET is required');
if (relayAddress === undefined) fail('--relay-address or KOLOKOL_RELAY_ADDRESS is required');

const range = pick(values['port-range'], 'KOLOKOL_RELAY_PORT_RANGE');
const rangeMatch = range === undefined ? undefined : /^(\d+)-(\d+)$/.exec(range);
if (range !== undefined && rangeMatch == null) fail(`--port-range: expected MIN-MAX, got ${range}`);

const entries: [string, unknown][] = [
  ['secret', secret],
  ['relayAddress', relayAddress],
  ['realm', pick(values.realm, 'KOLOKOL_RELAY_REALM')],
  ['host', pick(values.host, 'KOLOKOL_RELAY_HOST')],
  ['udpPort', portOption(pick(values['udp-port'], 'KOLOKOL_RELAY_UDP_PORT'))],
  ['tcpPort', portOption(pick(values['tcp-port'], 'KOLOKOL_RELAY_TCP_PORT'))],
  ['relayBindAddress', pick(values['relay-bind-address'], 'KOLOKOL_RELAY_BIND_ADDRESS')],
  [
    'relayPortRange',
    rangeMatch == null ? undefined : { min: Number(rangeMatch[1]), max: Number(rangeMatch[2]) },
  ],
  ['maxLifetimeSeconds', number(pick(values['max-lifetime'], 'KOLOKOL_RELAY_MAX_LIFETIME'))],
  ['maxAllocations', number(pick(values['max-allocations'], 'KOLOKOL_RELAY_MAX_ALLOCATIONS'))],
  [
    'maxAllocationsPerUser',
    number(pick(values['max-allocations-per-user'], 'KOLOKOL_RELAY_MAX_ALLOCATIONS_PER_USER')),
  ],
  ['bandwidthBytesPerSecond', number(pick(values.bandwidth, 'KOLOKOL_RELAY_BANDWIDTH'))],
  ['allowedPeerCidrs', list(values['allow-peer'], 'KOLOKOL_RELAY_ALLOW_PEERS')],
  ['deniedPeerCidrs', list(values['deny-peer'], 'KOLOKOL_RELAY_DENY_PEERS')],
  [
    'allowLoopbackPeers',
    values['allow-loopback-peers'] === true || env.KOLOKOL_RELAY_ALLOW_LOOPBACK_PEERS === '1',
  ],
];
// Flags and environment are untrusted: the schema parses them (and names what is wrong).
const parsed = relayConfigSchema.safeParse(Object.fromEntries(entries.filter(([, v]) => v !== undefined)));
if (!parsed.success) {
  fail(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '));
}
const config: RelayConfig = parsed.data;

try {
  const relay = createRelay({
    ...config,
    onError: (err) => process.stderr.write(`kolokol-relay: ${err.message}: ${String(err.cause)}\n`),
  });
  const ports = await relay.listen();
  process.stdout.write(
    `Kolokol relay listening on udp:${ports.udpPort ?? 'off'} tcp:${ports.tcpPort ?? 'off'}\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    relay.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  const config = err instanceof RelayError && err.code === 'CONFIG';
  process.stderr.write(`kolokol-relay: ${config ? message : `cannot start: ${message}`}\n`);
  process.exit(config ? 2 : 1);
}
