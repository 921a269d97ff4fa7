/**
 * A minimal TURN client for the integration tests, over UDP or a byte stream, built on the relay's
 * own codec (the RFC 5769 vectors pin the codec to the standard independently of this client).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { longTermKey, type TurnCredentials } from '../src/index.ts';
import type { TransportAddress } from '../src/ip.ts';
import {
  decodeErrorCode,
  decodeUint32,
  decodeXorAddress,
  encodeChannelNumber,
  encodeRequestedTransport,
  encodeUint32,
  encodeXorAddress,
} from '../src/stun/attributes.ts';
import { decodeChannelData, encodeChannelData } from '../src/stun/channel-data.ts';
import { AttributeType, MessageClass, Method } from '../src/stun/constants.ts';
import { StreamFramer } from '../src/stun/framing.ts';
import {
  type DecodedMessage,
  decodeMessage,
  encodeMessage,
  getAttribute,
  type RawAttribute,
  verifyIntegrity,
  verifyIntegritySha256,
} from '../src/stun/message.ts';

export type Received =
  | { kind: 'data'; peer: TransportAddress; data: Buffer }
  | { kind: 'channel'; channel: number; data: Buffer };

export interface Response {
  message: DecodedMessage;
  /** ERROR-CODE's code, or 0 for a success response. */
  code: number;
}

export class TurnTestClient {
  readonly received: Received[] = [];
  private readonly pending = new Map<string, (m: DecodedMessage) => void>();
  private readonly waiters: (() => void)[] = [];
  private realm: string | undefined;
  private nonce: string | undefined;
  private key: Buffer | undefined;
  private username: string | undefined;
  closed = false;
  private readonly sendBytes: (bytes: Buffer) => void;
  private readonly stream: boolean;
  private readonly closer: () => void;
  localPort = 0;

  private constructor(sendBytes: (b: Buffer) => void, stream: boolean, closer: () => void) {
    this.sendBytes = sendBytes;
    this.stream = stream;
    this.closer = closer;
  }

  static async udp(port: number, host = '127.0.0.1'): Promise<TurnTestClient> {
    const socket: UdpSocket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const client = new TurnTestClient(
      (b) => socket.send(b, port, host),
      false,
      () => socket.close(),
    );
    client.localPort = socket.address().port;
    socket.on('message', (msg) => client.onFrame(msg));
    return client;
  }

  static async tcp(port: number, host = '127.0.0.1'): Promise<TurnTestClient> {
    const socket: TcpSocket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = TurnTestClient.overStream(socket);
    client.localPort = socket.localPort ?? 0;
    return client;
  }

  static overStream(socket: Duplex): TurnTestClient {
    const client = new TurnTestClient(
      (b) => {
        if (!socket.destroyed) socket.write(b);
      },
      true,
      () => socket.destroy(),
    );
    const framer = new StreamFramer();
    socket.on('data', (chunk: Buffer) => {
      const { frames } = framer.push(chunk);
      for (const f of frames) client.onFrame(f.bytes);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      client.closed = true;
      client.wake();
    });
    return client;
  }

  private onFrame(bytes: Buffer): void {
    const cd = (bytes[0] ?? 0) >= 0x40 && (bytes[0] ?? 0) <= 0x4f ? decodeChannelData(bytes) : undefined;
    if (cd !== undefined) {
      this.received.push({ kind: 'channel', channel: cd.channel, data: Buffer.from(cd.data) });
      this.wake();
      return;
    }
    const result = decodeMessage(bytes);
    if (!result.ok) return;
    const m = result.message;
    if (m.cls === MessageClass.Indication && m.method === Method.Data) {
      const peerValue = getAttribute(m, AttributeType.XorPeerAddress);
      const peer = peerValue && decodeXorAddress(peerValue, m.transactionId);
      const data = getAttribute(m, AttributeType.Data);
      if (peer !== undefined && data !== undefined) this.received.push({ kind: 'data', peer, data });
      this.wake();
      return;
    }
    this.pending.get(m.transactionId.toString('hex'))?.(m);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `predicate` holds for the received list (or the timeout passes). */
  async waitFor(predicate: (r: Received[]) => boolean, timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** Waits for the stream to close. */
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    return this.waitFor(() => this.closed, timeoutMs);
  }

  sendRaw(bytes: Buffer): void {
    this.sendBytes(bytes);
  }

  /** Sends a request and resolves with its response; rejects after a timeout. */
  async request(
    method: number,
    attributes: RawAttribute[],
    options: { auth?: boolean; transactionId?: Buffer; fingerprint?: boolean; sha256?: boolean } = {},
  ): Promise<Response> {
    const transactionId = options.transactionId ?? randomBytes(12);
    const auth = options.auth === true && this.key !== undefined;
    const all = auth
      ? [
          ...attributes,
          { type: AttributeType.Username, value: Buffer.from(this.username ?? '') },
          { type: AttributeType.Realm, value: Buffer.from(this.realm ?? '') },
          { type: AttributeType.Nonce, value: Buffer.from(this.nonce ?? '') },
        ]
      : attributes;
    const bytes = encodeMessage(
      { method, cls: MessageClass.Request, transactionId, attributes: all },
      {
        ...(auth && this.key !== undefined
          ? options.sha256 === true
            ? { integritySha256Key: this.key }
            : { integrityKey: this.key }
          : {}),
        fingerprint: options.fingerprint ?? true,
      },
    );
    const message = await new Promise<DecodedMessage>((resolve, reject) => {
      const id = transactionId.toString('hex');
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no response to method ${method}`));
      }, 2000);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(m);
      });
      this.sendBytes(bytes);
    });
    const errorValue = getAttribute(message, AttributeType.ErrorCode);
    const code =
      message.cls === MessageClass.Error ? ((errorValue && decodeErrorCode(errorValue))?.code ?? -1) : 0;
    if (code === 401 || code === 438) {
      this.realm = getAttribute(message, AttributeType.Realm)?.toString() ?? this.realm;
      this.nonce = getAttribute(message, AttributeType.Nonce)?.toString() ?? this.nonce;
    }
    if (
      auth &&
      this.key !== undefined &&
      code !== 401 &&
      code !== 438 &&
      !(options.sha256 === true ? verifyIntegritySha256 : verifyIntegrity)(message, this.key)
    ) {
      throw new Error('response failed MESSAGE-INTEGRITY');
    }
    return { message, code };
  }

  /** Sets the credentials used by later authenticated requests (realm and nonce come from a 401). */
  useCredentials(credentials: { username: string; password: string }): void {
    this.username = credentials.username;
    this.key = longTermKey(credentials.username, this.realm ?? '', credentials.password);
  }

  /** Allocate with the 401 dance; resolves with the final response. */
  async allocate(
    credentials: TurnCredentials | { username: string; password: string },
    extra: RawAttribute[] = [],
    lifetime?: number,
  ): Promise<Response & { relayed?: TransportAddress; mapped?: TransportAddress; lifetime?: number }> {
    const attributes: RawAttribute[] = [
      { type: AttributeType.RequestedTransport, value: encodeRequestedTransport(17) },
      ...(lifetime === undefined ? [] : [{ type: AttributeType.Lifetime, value: encodeUint32(lifetime) }]),
      ...extra,
    ];
    const first = await this.request(Method.Allocate, attributes);
    if (first.code !== 401) return first;
    this.useCredentials(credentials);
    let response = await this.request(Method.Allocate, attributes, { auth: true });
    if (response.code === 438) response = await this.request(Method.Allocate, attributes, { auth: true });
    const m = response.message;
    const relayedValue = getAttribute(m, AttributeType.XorRelayedAddress);
    const mappedValue = getAttribute(m, AttributeType.XorMappedAddress);
    const lifetimeValue = getAttribute(m, AttributeType.Lifetime);
    const relayed = relayedValue && decodeXorAddress(relayedValue, m.transactionId);
    const mapped = mappedValue && decodeXorAddress(mappedValue, m.transactionId);
    const granted = lifetimeValue && decodeUint32(lifetimeValue);
    return {
      ...response,
      ...(relayed === undefined ? {} : { relayed }),
      ...(mapped === undefined ? {} : { mapped }),
      ...(granted === undefined ? {} : { lifetime: granted }),
    };
  }

  peerAttribute(peer: TransportAddress, transactionId: Buffer): RawAttribute {
    return { type: AttributeType.XorPeerAddress, value: encodeXorAddress(peer, transactionId) };
  }

  async createPermission(...peers: TransportAddress[]): Promise<Response> {
    const transactionId = randomBytes(12);
    return this.request(
      Method.CreatePermission,
      peers.map((p) => this.peerAttribute(p, transactionId)),
      { auth: true, transactionId },
    );
  }

  async channelBind(channel: number, peer: TransportAddress): Promise<Response> {
    const transactionId = randomBytes(12);
    return this.request(
      Method.ChannelBind,
      [
        { type: AttributeType.ChannelNumber, value: encodeChannelNumber(channel) },
        this.peerAttribute(peer, transactionId),
      ],
      { auth: true, transactionId },
    );
  }

  async refresh(lifetime?: number): Promise<Response & { lifetime?: number }> {
    const response = await this.request(
      Method.Refresh,
      lifetime === undefined ? [] : [{ type: AttributeType.Lifetime, value: encodeUint32(lifetime) }],
      { auth: true },
    );
    const value = getAttribute(response.message, AttributeType.Lifetime);
    const granted = value && decodeUint32(value);
    return { ...response, ...(granted === undefined ? {} : { lifetime: granted }) };
  }

  send(peer: TransportAddress, data: Buffer): void {
    const transactionId = randomBytes(12);
    this.sendBytes(
      encodeMessage({
        method: Method.Send,
        cls: MessageClass.Indication,
        transactionId,
        attributes: [this.peerAttribute(peer, transactionId), { type: AttributeType.Data, value: data }],
      }),
    );
  }

  sendChannelData(channel: number, data: Buffer): void {
    this.sendBytes(encodeChannelData(channel, data, this.stream));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closer();
  }
}

/** A UDP peer that echoes every datagram back to its sender and counts what it saw. */
export async function echoPeer(echo = true): Promise<{
  address: TransportAddress;
  received: Buffer[];
  socket: UdpSocket;
  close(): void;
}> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (msg, rinfo) => {
    received.push(msg);
    if (echo) socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: { address: '127.0.0.1', port: socket.address().port },
    received,
    socket,
    close: () => socket.close(),
  };
}
