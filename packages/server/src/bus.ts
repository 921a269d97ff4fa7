import { EventEmitter } from 'node:events';
import type { EphemeralItem, ServerEvent } from '@kolokol/protocol';

/** What one device's connections are told. JSON-safe, so that a NATS bus can carry it later. */
export type BusMessage =
  | { type: 'mailbox' }
  | { type: 'event'; event: ServerEvent }
  | { type: 'session-revoked'; sessionId: string }
  | { type: 'device-revoked' }
  /** An ephemeral application message: goes to the device's live sockets only, never stored. */
  | { type: 'ephemeral'; item: EphemeralItem };

/**
 * Wakes the connections of a device, wherever they are. Delivery state lives in the database, so
 * the bus may drop or repeat messages: a 'mailbox' nudge only says "look again".
 */
export interface Bus {
  publish(deviceId: string, message: BusMessage): void;
  /** Returns the unsubscribe function. */
  subscribe(deviceId: string, fn: (message: BusMessage) => void): () => void;
  close(): Promise<void>;
}

/** The single-process bus. */
export class LocalBus implements Bus {
  readonly #emitter = new EventEmitter();

  constructor() {
    // One listener per connection of a device; no leak, just many devices.
    this.#emitter.setMaxListeners(0);
  }

  publish(deviceId: string, message: BusMessage): void {
    // Listeners run after the publisher's turn, so a slow one never blocks a send's reply.
    queueMicrotask(() => this.#emitter.emit(deviceId, message));
  }

  subscribe(deviceId: string, fn: (message: BusMessage) => void): () => void {
    this.#emitter.on(deviceId, fn);
    return () => this.#emitter.off(deviceId, fn);
  }

  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
  }
}
