/**
 * A MediaEngine for Node, which has no WebRTC: the test double for RTCPeerConnection only (the
 * SDK, the server and MLS in these tests are all real). It is a minimal real peer: each engine
 * binds a UDP socket on 127.0.0.1, writes SDP-shaped descriptions with its ICE ufrag/pwd, gathers
 * a host, a srflx and a relay candidate (the relay one is the same loopback socket standing in for
 * a TURN allocation; the srflx one is a documentation address) and runs a tiny connectivity check
 * (PING/PONG carrying both ufrags) against every remote candidate it is given. It reports
 * `connected` only when a check came back, so a call connects only if candidates really crossed
 * the signalling path. It gathers all three candidate types whatever `iceTransportPolicy` says, on
 * purpose: the tests prove that the SDK, not the engine, keeps host and srflx addresses from
 * non-contacts.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { MlsSFrameEpoch } from '@kolokol/crypto';
import type { MediaEngine, MediaEngineOptions, MediaState } from '../src/index.ts';

export class NodeMediaEngine implements MediaEngine {
  readonly options: MediaEngineOptions;
  readonly remoteCandidates: string[] = [];
  readonly remoteDescriptions: { type: 'offer' | 'answer'; sdp: string }[] = [];
  readonly keys: MlsSFrameEpoch[] = [];
  state: MediaState | 'new' = 'new';
  closed = false;
  #socket: Socket;
  #port = 0;
  #ufrag = randomBytes(4).toString('hex');
  #remoteUfrag: string | undefined;
  #onCandidate: (c: string) => void = () => {};
  #onState: (s: MediaState) => void = () => {};

  private constructor(options: MediaEngineOptions, socket: Socket) {
    this.options = options;
    this.#socket = socket;
    this.#port = socket.address().port;
    socket.on('message', (msg, rinfo) => this.#onPacket(msg.toString(), rinfo.address, rinfo.port));
  }

  static async create(options: MediaEngineOptions): Promise<NodeMediaEngine> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.unref();
    return new NodeMediaEngine(options, socket);
  }

  async createOffer(): Promise<string> {
    this.#gather();
    return this.#sdp('actpass');
  }
  async createAnswer(): Promise<string> {
    this.#gather();
    return this.#sdp('active');
  }
  async applyRemote(sdp: string, type: 'offer' | 'answer'): Promise<void> {
    this.remoteDescriptions.push({ type, sdp });
    this.#remoteUfrag = /^a=ice-ufrag:(\S+)$/m.exec(sdp)?.[1];
    // Candidates inside the SDP count as well (non-trickle peers).
    for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) this.#check(line.slice(2));
  }
  async addCandidate(candidate: string): Promise<void> {
    this.remoteCandidates.push(candidate);
    this.#check(candidate);
  }
  async restartIce(): Promise<string> {
    this.#ufrag = randomBytes(4).toString('hex');
    this.#setState('connecting');
    return this.createOffer();
  }
  onLocalCandidate(fn: (c: string) => void): void {
    this.#onCandidate = fn;
  }
  onStateChange(fn: (s: MediaState) => void): void {
    this.#onState = fn;
  }
  setKeys(keys: MlsSFrameEpoch): void {
    this.keys.push(keys);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.state = 'closed';
    this.#socket.close();
  }
  /** Tests: pretend media stalled. */
  stall(): void {
    this.#setState('disconnected');
  }

  #candidates(): string[] {
    const p = this.#port;
    return [
      `candidate:1 1 udp 2122260223 127.0.0.1 ${p} typ host generation 0 ufrag ${this.#ufrag}`,
      `candidate:2 1 udp 1686052607 198.51.100.7 ${p} typ srflx raddr 127.0.0.1 rport ${p} generation 0 ufrag ${this.#ufrag}`,
      `candidate:3 1 udp 41885439 127.0.0.1 ${p} typ relay raddr 198.51.100.7 rport ${p} generation 0 ufrag ${this.#ufrag}`,
    ];
  }

  #gather(): void {
    setTimeout(() => {
      if (this.closed) return;
      for (const c of this.#candidates()) this.#onCandidate(c);
    }, 5);
  }

  #sdp(setup: string): string {
    const p = this.#port;
    const media = (kind: string, mid: number) => [
      `m=${kind} ${p} UDP/TLS/RTP/SAVPF 111`,
      'c=IN IP4 127.0.0.1',
      `a=rtcp:${p} IN IP4 127.0.0.1`,
      `a=mid:${mid}`,
      `a=ice-ufrag:${this.#ufrag}`,
      `a=ice-pwd:${randomBytes(12).toString('hex')}`,
      `a=fingerprint:sha-256 ${randomBytes(32)
        .toString('hex')
        .replace(/(..)(?!$)/g, '$1:')
        .toUpperCase()}`,
      `a=setup:${setup}`,
      ...this.#candidates().map((c) => `a=${c}`),
    ];
    return [
      'v=0',
      `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
      's=-',
      't=0 0',
      ...media('audio', 0),
      ...(this.options.video ? media('video', 1) : []),
      '',
    ].join('\r\n');
  }

  #check(candidate: string): void {
    const m = /^candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ/.exec(candidate);
    if (m === null || this.closed || this.#remoteUfrag === undefined) return;
    const [, host, port] = m;
    // Documentation addresses are unreachable by definition: like a real agent, do not bother.
    if (host === undefined || port === undefined || host.startsWith('198.51.100.')) return;
    if (this.state === 'new') this.#setState('connecting');
    this.#socket.send(`PING ${this.#remoteUfrag}:${this.#ufrag}`, Number(port), host);
  }

  #onPacket(text: string, host: string, port: number): void {
    if (this.closed) return;
    const [kind, pair] = text.split(' ');
    const [to, from] = (pair ?? '').split(':');
    if (to !== this.#ufrag || from === undefined) return;
    if (kind === 'PING') this.#socket.send(`PONG ${from}:${this.#ufrag}`, port, host);
    if ((kind === 'PING' || kind === 'PONG') && from === this.#remoteUfrag) this.#setState('connected');
  }

  #setState(s: MediaState): void {
    if (this.state === s || this.closed) return;
    this.state = s;
    this.#onState(s);
  }
}

/** A factory that remembers every engine it made. */
export function nodeMedia(): {
  factory: (o: MediaEngineOptions) => Promise<NodeMediaEngine>;
  engines: NodeMediaEngine[];
} {
  const engines: NodeMediaEngine[] = [];
  return {
    engines,
    factory: async (o) => {
      const e = await NodeMediaEngine.create(o);
      engines.push(e);
      return e;
    },
  };
}
