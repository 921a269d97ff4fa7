/** What the harness needs from each server under test; one implementation per protocol. */

/** Where a client sends to reach its partner: an XMPP full JID, or a Kolokol group and its epoch. */
export interface Peer {
  address: string;
  epoch?: number;
}

export interface BenchClient {
  readonly address: string;
  /** Fire and forget: the harness measures delivery at the receiver, not the sender's answer. */
  send(peer: Peer, id: string, body: string): void;
  /** Sends the server refused or that failed on the socket. */
  errors(): number;
  close(): Promise<void>;
}

export interface TargetOptions {
  /** A fresh temporary folder for configs, data and logs. */
  dir: string;
  durable: boolean;
}

export interface Target {
  readonly name: string;
  /** What a message costs on the server side, for the table. */
  readonly storage: string;
  start(): Promise<void>;
  /** Root processes of the server (the harness sums RSS and CPU over their trees). */
  pids(): number[];
  register(i: number): Promise<void>;
  /** Connects account i; `onMessage` gets the id of every message delivered to it. */
  connect(i: number, onMessage: (id: string) => void): Promise<BenchClient>;
  /** Makes a and b able to message each other; returns [a's way to b, b's way to a]. */
  pair(a: BenchClient, b: BenchClient, ia: number, ib: number): Promise<[Peer, Peer]>;
  stop(): Promise<void>;
  log(): string;
}
