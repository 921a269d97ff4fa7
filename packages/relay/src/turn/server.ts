/**
 * The TURN server proper (RFC 8656): allocations, permissions, channels and the data paths between
 * clients and peers. Client transports (UDP listener, TCP listener, TLS streams handed over by the
 * app) deliver frames here through a ClientConnection; relayed traffic uses one UDP socket per
 * allocation.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { ResolvedRelayConfig } from '../config.ts';
import { RelayError } from '../errors.ts';
import { canonicalIp, type Family, familyOf, type TransportAddress } from '../ip.ts';
import {
  decodeChannelNumber,
  decodeEvenPort,
  decodeRequestedFamily,
  decodeRequestedTransport,
  decodeText,
  decodeUint32,
  decodeXorAddress,
  encodeErrorCode,
  encodeUint32,
  encodeUnknownAttributes,
  encodeXorAddress,
  TEXT_LIMITS,
} from '../stun/attributes.ts';
import { decodeChannelData, encodeChannelData } from '../stun/channel-data.ts';
import {
  AttributeType,
  ErrorCode,
  errorReason,
  isComprehensionRequired,
  MessageClass,
  Method,
  TRANSPORT_UDP,
} from '../stun/constants.ts';
import {
  type DecodedMessage,
  decodeMessage,
  encodeMessage,
  getAttribute,
  getAttributes,
  type RawAttribute,
  verifyIntegrity,
  verifyIntegritySha256,
} from '../stun/message.ts';
import { longTermKey, parseRestUsername, restPassword } from './credentials.ts';
import { NonceMint } from './nonce.ts';
import { PeerPolicy } from './policy.ts';
import { TokenBucket } from './token-bucket.ts';

export const PERMISSION_LIFETIME_MS = 300_000;
export const CHANNEL_LIFETIME_MS = 600_000;
const RELAY_SOCKET_BUFFER_BYTES = 512 * 1024;

/** One client 5-tuple: a UDP source address on the listener, or one TCP/TLS stream. */
export interface ClientConnection {
  /** Identifies the 5-tuple: "udp|addr|port" or "stream|n". */
  readonly key: string;
  readonly remote: TransportAddress;
  /** Streams pad ChannelData to 4 bytes; UDP does not. */
  readonly stream: boolean;
  /** Sends one message or frame; false when it was dropped (a stream's queue is full). */
  send(bytes: Buffer): boolean;
}

export interface RelayStats {
  /** Allocations now. */
  allocations: number;
  allocationsCreated: number;
  permissions: number;
  channels: number;
  /** TCP/TLS client streams now. */
  streams: number;
  /** Bytes and packets received from clients and peers (whole STUN messages, frames, datagrams). */
  bytesIn: number;
  packetsIn: number;
  /** Bytes and packets sent to clients and peers. */
  bytesOut: number;
  packetsOut: number;
  /** Requests answered with an error, by reason. */
  refused: Record<RefuseReason, number>;
  /** Packets dropped without an answer, by reason. */
  dropped: Record<DropReason, number>;
}

export const refuseReasons = [
  'unauthenticated',
  'badCredentials',
  'expiredCredentials',
  'staleNonce',
  'wrongCredentials',
  'allocationMismatch',
  'forbiddenPeer',
  'userQuota',
  'capacity',
  'badRequest',
  'unknownAttribute',
  'unsupported',
] as const;
export type RefuseReason = (typeof refuseReasons)[number];

export const dropReasons = [
  'malformed',
  'noAllocation',
  'noPermission',
  'forbiddenPeer',
  'bandwidth',
  'backpressure',
  'oversize',
] as const;
export type DropReason = (typeof dropReasons)[number];

/**
 * Comprehension-required attributes this server understands in requests; any other one in
 * 0x0000-0x7FFF gets 420 (RFC 8489 §7.3.1). DONT-FRAGMENT is deliberately absent: Node cannot set
 * the DF bit on a UDP socket, and RFC 8656 §7.2 says to treat it as unknown then. PRIORITY and
 * USE-CANDIDATE are ICE's and harmless to ignore.
 */
const KNOWN_REQUIRED = new Set<number>([
  AttributeType.MappedAddress,
  AttributeType.Username,
  AttributeType.MessageIntegrity,
  AttributeType.ErrorCode,
  AttributeType.UnknownAttributes,
  AttributeType.ChannelNumber,
  AttributeType.Lifetime,
  AttributeType.XorPeerAddress,
  AttributeType.Data,
  AttributeType.Realm,
  AttributeType.Nonce,
  AttributeType.XorRelayedAddress,
  AttributeType.RequestedAddressFamily,
  AttributeType.EvenPort,
  AttributeType.RequestedTransport,
  AttributeType.MessageIntegritySha256,
  AttributeType.XorMappedAddress,
  AttributeType.ReservationToken,
  AttributeType.Priority,
  AttributeType.UseCandidate,
]);

function unknownRequired(message: DecodedMessage): number[] {
  const types = message.attributes.map((a) => a.type);
  return [...new Set(types.filter((t) => isComprehensionRequired(t) && !KNOWN_REQUIRED.has(t)))];
}

interface Channel {
  peer: TransportAddress;
  expiresAt: number;
}

interface Allocation {
  readonly key: string;
  readonly client: ClientConnection;
  readonly username: string;
  readonly userId: string;
  readonly family: Family;
  /** Undefined while the relay socket is being bound. */
  socket: UdpSocket | undefined;
  expiresAt: number;
  /** Peer IP -> expiry (ms). */
  readonly permissions: Map<string, number>;
  readonly channels: Map<number, Channel>;
  /** "ip|port" -> channel number. */
  readonly peerChannels: Map<string, number>;
  readonly bucket: TokenBucket;
  readonly allocateTransaction: string;
  allocateResponse: Buffer | undefined;
  closed: boolean;
}

type Auth = { username: string; userId: string; key: Buffer; sha256: boolean };

export type TurnServerConfig = ResolvedRelayConfig & {
  clock: () => number;
  onError: (error: RelayError) => void;
};

export class TurnServer {
  private readonly config: TurnServerConfig;
  private readonly policy: PeerPolicy;
  private readonly nonces: NonceMint;
  private readonly allocations = new Map<string, Allocation>();
  private readonly perUser = new Map<string, number>();
  private readonly relayFamily: Family;
  private readonly relayBindAddress: string;
  private readonly counters = { allocationsCreated: 0, bytesIn: 0, packetsIn: 0, bytesOut: 0, packetsOut: 0 };
  private readonly refusedCounts = Object.fromEntries(refuseReasons.map((r) => [r, 0])) as Record<
    RefuseReason,
    number
  >;
  private readonly droppedCounts = Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<
    DropReason,
    number
  >;
  /** Maintained by the transport layer, for stats(). */
  streamCount = 0;
  /**
   * The relay's own client-facing ports, set by the transport layer: relaying into them from a relay
   * socket would let a client nest allocations inside the relay (an anonymising loop).
   */
  readonly listenerPorts = new Set<number>();
  private closed = false;

  constructor(config: TurnServerConfig) {
    this.config = config;
    this.policy = new PeerPolicy({
      allowLoopbackPeers: config.allowLoopbackPeers,
      allowedPeerCidrs: config.allowedPeerCidrs,
      deniedPeerCidrs: config.deniedPeerCidrs,
    });
    this.nonces = new NonceMint(config.nonceLifetimeSeconds * 1000);
    this.relayFamily = familyOf(config.relayAddress) ?? 4;
    this.relayBindAddress = config.relayBindAddress ?? (this.relayFamily === 4 ? '0.0.0.0' : '::');
  }

  stats(): RelayStats {
    let permissions = 0;
    let channels = 0;
    for (const a of this.allocations.values()) {
      permissions += a.permissions.size;
      channels += a.channels.size;
    }
    return {
      allocations: this.allocations.size,
      ...this.counters,
      permissions,
      channels,
      streams: this.streamCount,
      refused: { ...this.refusedCounts },
      dropped: { ...this.droppedCounts },
    };
  }

  drop(reason: DropReason): void {
    this.droppedCounts[reason]++;
  }

  /** A datagram from a UDP client, or one frame from a stream (framing already checked). */
  handleClientBytes(bytes: Buffer, client: ClientConnection): void {
    if (this.closed) return;
    this.counters.bytesIn += bytes.length;
    this.counters.packetsIn++;
    const first = bytes[0] ?? 0xff;
    if (first >= 0x40 && first <= 0x4f) {
      this.handleChannelData(bytes, client);
      return;
    }
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.drop('malformed');
      return;
    }
    this.handleMessage(decoded.message, client);
  }

  /** The client's 5-tuple is gone (stream closed): its allocation goes with it. */
  clientGone(client: ClientConnection): void {
    const allocation = this.allocations.get(client.key);
    if (allocation !== undefined) this.deleteAllocation(allocation);
  }

  hasAllocation(client: ClientConnection): boolean {
    return this.allocations.has(client.key);
  }

  /** Expires allocations, permissions and channels; run periodically. */
  sweep(): void {
    const now = this.config.clock();
    for (const allocation of [...this.allocations.values()]) {
      if (allocation.socket !== undefined && allocation.expiresAt <= now) {
        this.deleteAllocation(allocation);
        continue;
      }
      for (const [ip, expiresAt] of allocation.permissions) {
        if (expiresAt <= now) allocation.permissions.delete(ip);
      }
      for (const [number, channel] of allocation.channels) {
        if (channel.expiresAt <= now) {
          allocation.channels.delete(number);
          allocation.peerChannels.delete(peerKey(channel.peer));
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const allocation of [...this.allocations.values()]) this.deleteAllocation(allocation);
  }

  private handleMessage(message: DecodedMessage, client: ClientConnection): void {
    if (message.cls === MessageClass.Indication) {
      if (message.method === Method.Send) this.handleSend(message, client);
      else this.drop('malformed');
      return;
    }
    if (message.cls !== MessageClass.Request) {
      this.drop('malformed');
      return;
    }
    const unknown = unknownRequired(message);
    if (unknown.length > 0) {
      this.refuse(client, message, ErrorCode.UnknownAttribute, 'unknownAttribute', undefined, [
        { type: AttributeType.UnknownAttributes, value: encodeUnknownAttributes(unknown) },
      ]);
      return;
    }
    switch (message.method) {
      case Method.Binding:
        this.respond(client, message, MessageClass.Success, [
          {
            type: AttributeType.XorMappedAddress,
            value: encodeXorAddress(client.remote, message.transactionId),
          },
        ]);
        return;
      case Method.Allocate:
      case Method.Refresh:
      case Method.CreatePermission:
      case Method.ChannelBind: {
        const auth = this.authenticate(message, client);
        if (auth === undefined) return;
        if (message.method === Method.Allocate) void this.handleAllocate(message, client, auth);
        else this.handleAllocationRequest(message, client, auth);
        return;
      }
      default:
        this.refuse(client, message, ErrorCode.BadRequest, 'badRequest');
    }
  }

  /** RFC 8489 §9.2.4, in its order; answers failures itself and returns undefined then. */
  private authenticate(message: DecodedMessage, client: ClientConnection): Auth | undefined {
    const challenge = (code: ErrorCode, reason: RefuseReason) =>
      this.refuse(client, message, code, reason, undefined, [
        { type: AttributeType.Realm, value: Buffer.from(this.config.realm, 'utf8') },
        {
          type: AttributeType.Nonce,
          value: Buffer.from(this.nonces.issue(client.remote.address, this.config.clock()), 'utf8'),
        },
      ]);
    if (message.integrityOffset === undefined && message.integritySha256Offset === undefined) {
      challenge(ErrorCode.Unauthorized, 'unauthenticated');
      return undefined;
    }
    const usernameBytes = getAttribute(message, AttributeType.Username);
    const realmBytes = getAttribute(message, AttributeType.Realm);
    const nonceBytes = getAttribute(message, AttributeType.Nonce);
    const username = usernameBytes && decodeText(usernameBytes, TEXT_LIMITS.username);
    const realm = realmBytes && decodeText(realmBytes, TEXT_LIMITS.realm);
    const nonce = nonceBytes && decodeText(nonceBytes, TEXT_LIMITS.nonce);
    if (username === undefined || realm === undefined || nonce === undefined) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest');
      return undefined;
    }
    const now = this.config.clock();
    if (!this.nonces.check(nonce, client.remote.address, now)) {
      challenge(ErrorCode.StaleNonce, 'staleNonce');
      return undefined;
    }
    const rest = parseRestUsername(username);
    if (rest === undefined || realm !== this.config.realm) {
      challenge(ErrorCode.Unauthorized, 'badCredentials');
      return undefined;
    }
    if (rest.expiry * 1000 <= now) {
      challenge(ErrorCode.Unauthorized, 'expiredCredentials');
      return undefined;
    }
    const key = longTermKey(username, this.config.realm, restPassword(this.config.secret, username));
    const sha256 = message.integrityOffset === undefined;
    const ok = sha256 ? verifyIntegritySha256(message, key) : verifyIntegrity(message, key);
    if (!ok) {
      challenge(ErrorCode.Unauthorized, 'badCredentials');
      return undefined;
    }
    return { username, userId: rest.id, key, sha256 };
  }

  private async handleAllocate(message: DecodedMessage, client: ClientConnection, auth: Auth): Promise<void> {
    const transaction = message.transactionId.toString('hex');
    const existing = this.allocations.get(client.key);
    if (existing !== undefined) {
      if (existing.allocateTransaction === transaction) {
        // A retransmission: answer again, or stay quiet while the first is still binding.
        if (existing.allocateResponse !== undefined && client.send(existing.allocateResponse)) {
          this.countOut(existing.allocateResponse.length);
        }
        return;
      }
      this.refuse(client, message, ErrorCode.AllocationMismatch, 'allocationMismatch', auth);
      return;
    }
    const transportValue = getAttribute(message, AttributeType.RequestedTransport);
    const transport = transportValue && decodeRequestedTransport(transportValue);
    if (transport === undefined) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
      return;
    }
    if (transport !== TRANSPORT_UDP) {
      this.refuse(client, message, ErrorCode.UnsupportedTransportProtocol, 'unsupported', auth);
      return;
    }
    const evenPortValue = getAttribute(message, AttributeType.EvenPort);
    const evenPort = evenPortValue && decodeEvenPort(evenPortValue);
    const hasToken = getAttribute(message, AttributeType.ReservationToken) !== undefined;
    if (evenPortValue !== undefined && (evenPort === undefined || hasToken)) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
      return;
    }
    // Port reservations (EVEN-PORT's R bit, RESERVATION-TOKEN) exist for RTP/RTCP port pairs, which
    // WebRTC multiplexes on one port; refusing them keeps the relay simple (RFC 8656 §7.2 allows 508).
    if (hasToken || evenPort?.reserveNext === true) {
      this.refuse(client, message, ErrorCode.InsufficientCapacity, 'unsupported', auth);
      return;
    }
    const familyValue = getAttribute(message, AttributeType.RequestedAddressFamily);
    if (familyValue !== undefined) {
      const family = decodeRequestedFamily(familyValue);
      if (family === undefined) {
        this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
        return;
      }
      if (family !== this.relayFamily) {
        this.refuse(client, message, ErrorCode.AddressFamilyNotSupported, 'unsupported', auth);
        return;
      }
    }
    if ((this.perUser.get(auth.userId) ?? 0) >= this.config.maxAllocationsPerUser) {
      this.refuse(client, message, ErrorCode.AllocationQuotaReached, 'userQuota', auth);
      return;
    }
    if (this.allocations.size >= this.config.maxAllocations) {
      this.refuse(client, message, ErrorCode.InsufficientCapacity, 'capacity', auth);
      return;
    }
    const lifetimeValue = getAttribute(message, AttributeType.Lifetime);
    const lifetime = this.lifetime(lifetimeValue && decodeUint32(lifetimeValue));
    const now = this.config.clock();
    const burst = this.config.bandwidthBurstBytes ?? this.config.bandwidthBytesPerSecond;
    const allocation: Allocation = {
      key: client.key,
      client,
      username: auth.username,
      userId: auth.userId,
      family: this.relayFamily,
      socket: undefined,
      expiresAt: now + lifetime * 1000,
      permissions: new Map(),
      channels: new Map(),
      peerChannels: new Map(),
      bucket: new TokenBucket(this.config.bandwidthBytesPerSecond, burst, now),
      allocateTransaction: transaction,
      allocateResponse: undefined,
      closed: false,
    };
    // Registered before the bind so that retransmissions and quota checks already see it.
    this.allocations.set(client.key, allocation);
    this.perUser.set(auth.userId, (this.perUser.get(auth.userId) ?? 0) + 1);
    let socket: UdpSocket;
    try {
      socket = await this.bindRelaySocket(evenPort !== undefined);
    } catch (err) {
      this.deleteAllocation(allocation);
      this.config.onError(new RelayError('BIND', 'cannot bind a relay socket', { cause: err }));
      this.refuse(client, message, ErrorCode.InsufficientCapacity, 'capacity', auth);
      return;
    }
    if (allocation.closed) {
      socket.close();
      return;
    }
    allocation.socket = socket;
    const relayed: TransportAddress = { address: this.config.relayAddress, port: socket.address().port };
    socket.on('message', (msg, rinfo) => this.handlePeerDatagram(allocation, msg, rinfo));
    socket.on('error', (err) =>
      this.config.onError(new RelayError('BIND', 'relay socket error', { cause: err })),
    );
    this.counters.allocationsCreated++;
    const response = this.encodeResponse(
      message,
      MessageClass.Success,
      [
        { type: AttributeType.XorRelayedAddress, value: encodeXorAddress(relayed, message.transactionId) },
        { type: AttributeType.Lifetime, value: encodeUint32(lifetime) },
        {
          type: AttributeType.XorMappedAddress,
          value: encodeXorAddress(client.remote, message.transactionId),
        },
      ],
      auth,
    );
    allocation.allocateResponse = response;
    if (client.send(response)) this.countOut(response.length);
  }

  /** Refresh, CreatePermission and ChannelBind: all act on the 5-tuple's allocation. */
  private handleAllocationRequest(message: DecodedMessage, client: ClientConnection, auth: Auth): void {
    const allocation = this.allocations.get(client.key);
    if (allocation === undefined || allocation.socket === undefined) {
      this.refuse(client, message, ErrorCode.AllocationMismatch, 'allocationMismatch', auth);
      return;
    }
    if (allocation.username !== auth.username) {
      this.refuse(client, message, ErrorCode.WrongCredentials, 'wrongCredentials', auth);
      return;
    }
    const now = this.config.clock();
    if (message.method === Method.Refresh) {
      const familyValue = getAttribute(message, AttributeType.RequestedAddressFamily);
      if (familyValue !== undefined && decodeRequestedFamily(familyValue) !== allocation.family) {
        this.refuse(client, message, ErrorCode.PeerAddressFamilyMismatch, 'badRequest', auth);
        return;
      }
      const lifetimeValue = getAttribute(message, AttributeType.Lifetime);
      const requested = lifetimeValue && decodeUint32(lifetimeValue);
      const lifetime = requested === 0 ? 0 : this.lifetime(requested);
      if (lifetime === 0) this.deleteAllocation(allocation);
      else allocation.expiresAt = now + lifetime * 1000;
      const value = encodeUint32(lifetime);
      this.respond(client, message, MessageClass.Success, [{ type: AttributeType.Lifetime, value }], auth);
      return;
    }
    const peers = getAttributes(message, AttributeType.XorPeerAddress).map((v) =>
      decodeXorAddress(v, message.transactionId),
    );
    const valid = peers.filter((p): p is TransportAddress => p !== undefined);
    if (valid.length === 0 || valid.length !== peers.length) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
      return;
    }
    if (valid.some((p) => familyOf(p.address) !== allocation.family)) {
      this.refuse(client, message, ErrorCode.PeerAddressFamilyMismatch, 'badRequest', auth);
      return;
    }
    if (valid.some((p) => !this.policy.permits(p.address))) {
      this.refuse(client, message, ErrorCode.Forbidden, 'forbiddenPeer', auth);
      return;
    }
    if (message.method === Method.CreatePermission) {
      const fresh = new Set(valid.map((p) => p.address).filter((ip) => !allocation.permissions.has(ip)));
      if (allocation.permissions.size + fresh.size > this.config.maxPermissionsPerAllocation) {
        this.refuse(client, message, ErrorCode.InsufficientCapacity, 'capacity', auth);
        return;
      }
      for (const p of valid) allocation.permissions.set(p.address, now + PERMISSION_LIFETIME_MS);
      this.respond(client, message, MessageClass.Success, [], auth);
      return;
    }
    // ChannelBind: exactly one peer, and a channel that is free or already bound to that peer.
    const channelValue = getAttribute(message, AttributeType.ChannelNumber);
    const channel = channelValue && decodeChannelNumber(channelValue);
    const peer = valid[0];
    if (channel === undefined || peer === undefined || valid.length !== 1 || peer.port === 0) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
      return;
    }
    const bound = allocation.channels.get(channel);
    const boundChannel = allocation.peerChannels.get(peerKey(peer));
    if (
      (bound !== undefined && peerKey(bound.peer) !== peerKey(peer)) ||
      (boundChannel !== undefined && boundChannel !== channel)
    ) {
      this.refuse(client, message, ErrorCode.BadRequest, 'badRequest', auth);
      return;
    }
    const full =
      (bound === undefined && allocation.channels.size >= this.config.maxChannelsPerAllocation) ||
      (!allocation.permissions.has(peer.address) &&
        allocation.permissions.size >= this.config.maxPermissionsPerAllocation);
    if (full) {
      this.refuse(client, message, ErrorCode.InsufficientCapacity, 'capacity', auth);
      return;
    }
    allocation.channels.set(channel, { peer, expiresAt: now + CHANNEL_LIFETIME_MS });
    allocation.peerChannels.set(peerKey(peer), channel);
    allocation.permissions.set(peer.address, now + PERMISSION_LIFETIME_MS);
    this.respond(client, message, MessageClass.Success, [], auth);
  }

  /** Send indication: client -> peer through an existing permission. Never answered. */
  private handleSend(message: DecodedMessage, client: ClientConnection): void {
    const allocation = this.allocations.get(client.key);
    if (allocation?.socket === undefined) {
      this.drop('noAllocation');
      return;
    }
    // An indication with an unknown comprehension-required attribute is discarded (RFC 8489 §7.3.2).
    if (unknownRequired(message).length > 0) {
      this.drop('malformed');
      return;
    }
    const peerValue = getAttribute(message, AttributeType.XorPeerAddress);
    const peer = peerValue && decodeXorAddress(peerValue, message.transactionId);
    const data = getAttribute(message, AttributeType.Data);
    if (peer === undefined || data === undefined || peer.port === 0) {
      this.drop('malformed');
      return;
    }
    this.sendToPeer(allocation, peer, data);
  }

  private handleChannelData(bytes: Buffer, client: ClientConnection): void {
    const frame = decodeChannelData(bytes);
    if (frame === undefined) {
      this.drop('malformed');
      return;
    }
    const allocation = this.allocations.get(client.key);
    if (allocation?.socket === undefined) {
      this.drop('noAllocation');
      return;
    }
    const channel = allocation.channels.get(frame.channel);
    if (channel === undefined || channel.expiresAt <= this.config.clock()) {
      this.drop('noPermission');
      return;
    }
    this.sendToPeer(allocation, channel.peer, frame.data);
  }

  private sendToPeer(allocation: Allocation, peer: TransportAddress, data: Buffer): void {
    const now = this.config.clock();
    const permission = allocation.permissions.get(peer.address);
    if (permission === undefined || permission <= now) {
      this.drop('noPermission');
      return;
    }
    if (!this.policy.permits(peer.address) || this.isOwnListener(peer)) {
      this.drop('forbiddenPeer');
      return;
    }
    if (!allocation.bucket.take(data.length, now)) {
      this.drop('bandwidth');
      return;
    }
    allocation.socket?.send(data, peer.port, peer.address, (err) => {
      if (err) this.config.onError(new RelayError('BIND', 'send to peer failed', { cause: err }));
    });
    this.countOut(data.length);
  }

  private handlePeerDatagram(allocation: Allocation, data: Buffer, rinfo: RemoteInfo): void {
    this.counters.bytesIn += data.length;
    this.counters.packetsIn++;
    const address = canonicalIp(rinfo.address);
    const now = this.config.clock();
    const permission = address === undefined ? undefined : allocation.permissions.get(address);
    if (address === undefined || permission === undefined || permission <= now) {
      this.drop('noPermission');
      return;
    }
    const peer: TransportAddress = { address, port: rinfo.port };
    const channel = allocation.peerChannels.get(peerKey(peer));
    const live = channel !== undefined && (allocation.channels.get(channel)?.expiresAt ?? 0) > now;
    // A Data indication adds a 20-byte header, XOR-PEER-ADDRESS (up to 24 bytes) and DATA's header
    // and padding to the payload; both framings have a 16-bit length.
    if (live ? data.length > 0xffff : data.length + 24 + 4 + 3 > 0xffff) {
      this.drop('oversize');
      return;
    }
    if (!allocation.bucket.take(data.length, now)) {
      this.drop('bandwidth');
      return;
    }
    let frame: Buffer;
    if (live) {
      frame = encodeChannelData(channel, data, allocation.client.stream);
    } else {
      const transactionId = randomBytes(12);
      frame = encodeMessage({
        method: Method.Data,
        cls: MessageClass.Indication,
        transactionId,
        attributes: [
          { type: AttributeType.XorPeerAddress, value: encodeXorAddress(peer, transactionId) },
          { type: AttributeType.Data, value: data },
        ],
      });
    }
    if (allocation.client.send(frame)) this.countOut(frame.length);
    else this.drop('backpressure');
  }

  private isOwnListener(peer: TransportAddress): boolean {
    if (!this.listenerPorts.has(peer.port)) return false;
    return peer.address === this.config.relayAddress || peer.address === this.config.host;
  }

  /** RFC 8656 §7.2: min(requested, max), but never below the default (itself capped by max). */
  private lifetime(requested: number | undefined): number {
    const max = this.config.maxLifetimeSeconds;
    const fallback = Math.min(this.config.defaultLifetimeSeconds, max);
    if (requested === undefined) return fallback;
    return Math.max(fallback, Math.min(requested, max));
  }

  private async bindRelaySocket(evenPort: boolean): Promise<UdpSocket> {
    const range = this.config.relayPortRange;
    const size = range === undefined ? 0 : range.max - range.min + 1;
    const attempts = range === undefined ? (evenPort ? 16 : 1) : Math.min(64, size);
    const offset = Math.floor(Math.random() * size);
    let lastError: unknown = new Error('no free relay port');
    for (let i = 0, tried = 0; tried < attempts && (range === undefined || i < size); i++) {
      const port = range === undefined ? 0 : range.min + ((offset + i) % size);
      if (evenPort && port % 2 === 1) continue;
      tried++;
      // IPv6 relay sockets are IPv6-only so that a mapped address can never reach IPv4 space.
      // One peer's media per socket: a receive buffer of a few hundred packets covers a busy loop.
      const socket = createSocket(
        this.relayFamily === 4
          ? { type: 'udp4', recvBufferSize: RELAY_SOCKET_BUFFER_BYTES }
          : { type: 'udp6', ipv6Only: true, recvBufferSize: RELAY_SOCKET_BUFFER_BYTES },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: this.relayBindAddress, port, exclusive: true }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        lastError = err;
        socket.close();
        continue;
      }
      if (evenPort && socket.address().port % 2 === 1) {
        socket.close();
        continue;
      }
      return socket;
    }
    throw lastError;
  }

  private deleteAllocation(allocation: Allocation): void {
    if (allocation.closed) return;
    allocation.closed = true;
    if (this.allocations.get(allocation.key) === allocation) this.allocations.delete(allocation.key);
    const count = (this.perUser.get(allocation.userId) ?? 1) - 1;
    if (count <= 0) this.perUser.delete(allocation.userId);
    else this.perUser.set(allocation.userId, count);
    allocation.permissions.clear();
    allocation.channels.clear();
    allocation.peerChannels.clear();
    allocation.socket?.close();
  }

  private encodeResponse(
    request: DecodedMessage,
    cls: MessageClass,
    attributes: RawAttribute[],
    auth: Auth | undefined,
  ): Buffer {
    const software = this.config.software;
    const all =
      software === undefined
        ? attributes
        : [...attributes, { type: AttributeType.Software, value: Buffer.from(software, 'utf8') }];
    const integrity =
      auth === undefined ? {} : auth.sha256 ? { integritySha256Key: auth.key } : { integrityKey: auth.key };
    return encodeMessage(
      { method: request.method, cls, transactionId: request.transactionId, attributes: all },
      { ...integrity, fingerprint: request.hasFingerprint },
    );
  }

  private respond(
    client: ClientConnection,
    request: DecodedMessage,
    cls: MessageClass,
    attributes: RawAttribute[],
    auth?: Auth,
  ): void {
    const bytes = this.encodeResponse(request, cls, attributes, auth);
    if (client.send(bytes)) this.countOut(bytes.length);
  }

  private refuse(
    client: ClientConnection,
    request: DecodedMessage,
    code: ErrorCode,
    reason: RefuseReason,
    auth?: Auth,
    extra: RawAttribute[] = [],
  ): void {
    this.refusedCounts[reason]++;
    const attributes = [
      { type: AttributeType.ErrorCode, value: encodeErrorCode(code, errorReason[code]) },
      ...extra,
    ];
    this.respond(client, request, MessageClass.Error, attributes, auth);
  }

  private countOut(bytes: number): void {
    this.counters.bytesOut += bytes;
    this.counters.packetsOut++;
  }
}

function peerKey(peer: TransportAddress): string {
  return `${peer.address}|${peer.port}`;
}
