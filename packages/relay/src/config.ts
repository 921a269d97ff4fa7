/**
 * Relay configuration: what the embedding server or `kolokol-relay` passes in, checked by a zod
 * schema (values may come from flags and environment) and filled with defaults.
 */
import { BlockList } from 'node:net';
import { z } from 'zod';
import { RelayError } from './errors.ts';
import { familyOf } from './ip.ts';
import { addCidr } from './turn/policy.ts';

const port = z.number().int().min(0).max(65535);
const positive = z.number().int().positive();

const ipAddress = z.string().refine((s) => familyOf(s) !== undefined, 'not an IP address');
const cidr = z.string().refine((s) => {
  try {
    addCidr(new BlockList(), s);
    return true;
  } catch {
    return false;
  }
}, 'not a CIDR');

export const relayConfigSchema = z
  .object({
    /** Shared with the app server, which mints credentials with turnCredentials(). */
    secret: z.string().min(16, 'the secret needs at least 16 characters'),
    realm: z.string().min(1).max(127).default('kolokol'),
    /** Address the UDP and TCP listeners bind to. */
    host: ipAddress.default('0.0.0.0'),
    /** 0 picks a free port; false disables the listener (e.g. TLS only, through handleStream). */
    udpPort: z.union([port, z.literal(false)]).default(3478),
    tcpPort: z.union([port, z.literal(false)]).default(3478),
    /** The address clients and peers reach relayed ports at (XOR-RELAYED-ADDRESS). */
    relayAddress: ipAddress,
    /** Address relay sockets bind to; default 0.0.0.0 or :: by relayAddress's family. */
    relayBindAddress: ipAddress.optional(),
    /** Ports for relay sockets; default any free port. */
    relayPortRange: z
      .object({ min: port.min(1), max: port.min(1) })
      .refine((r) => r.min <= r.max, 'min above max')
      .optional(),
    defaultLifetimeSeconds: positive.default(600),
    maxLifetimeSeconds: positive.default(3600),
    maxAllocations: positive.default(1000),
    maxAllocationsPerUser: positive.default(10),
    maxPermissionsPerAllocation: positive.default(64),
    maxChannelsPerAllocation: positive.max(4096).default(64),
    /** Per allocation, both directions together. Default 10 Mbit/s. */
    bandwidthBytesPerSecond: positive.default(1_250_000),
    /** Bucket size; default one second's worth. */
    bandwidthBurstBytes: positive.optional(),
    nonceLifetimeSeconds: positive.default(600),
    allowLoopbackPeers: z.boolean().default(false),
    allowedPeerCidrs: z.array(cidr).default([]),
    deniedPeerCidrs: z.array(cidr).default([]),
    /** SOFTWARE attribute in responses. Off by default: a product name in cleartext UDP helps censors. */
    software: z.string().max(127).optional(),
    /** A stream with no allocation and no traffic for this long is closed. */
    streamIdleTimeoutMs: positive.default(30_000),
    /** Data for a stream client is dropped while its socket has this much queued. */
    streamMaxBufferedBytes: positive.default(1 << 20),
    sweepIntervalMs: positive.default(1000),
  })
  .strict();

export type RelayConfigInput = z.input<typeof relayConfigSchema>;
export type ResolvedRelayConfig = z.output<typeof relayConfigSchema>;

/** Hooks that are code, not data, so they stay out of the schema. */
export interface RelayHooks {
  /** Milliseconds since the epoch; tests move it to expire things. */
  clock?: () => number;
  /** Socket-level errors that the relay survives (a relay port's ICMP error, a failed send). */
  onError?: (error: RelayError) => void;
}

export type RelayConfig = RelayConfigInput & RelayHooks;

export function resolveConfig(config: RelayConfig): ResolvedRelayConfig & Required<RelayHooks> {
  const { clock, onError, ...data } = config;
  const parsed = relayConfigSchema.safeParse(data);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new RelayError('CONFIG', `invalid relay config: ${detail}`, { cause: parsed.error });
  }
  const out = parsed.data;
  if (out.relayBindAddress !== undefined && familyOf(out.relayBindAddress) !== familyOf(out.relayAddress)) {
    throw new RelayError('CONFIG', 'relayBindAddress and relayAddress must be of the same family');
  }
  return { ...out, clock: clock ?? Date.now, onError: onError ?? (() => {}) };
}
