import { EventEmitter } from 'node:events';
import { EphemeralItem, ServerEvent, SessionId } from '@kolokol/protocol';
import { z } from 'zod';

/**
 * What one device's connections are told. JSON-safe, because the NATS bus carries it between
 * nodes; a node parses what it receives with this schema (another node is still input).
 */
export const BusMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('mailbox') }),
  z.object({ type: z.literal('event'), event: ServerEvent }),
  z.object({ type: z.literal('session-revoked'), sessionId: SessionId }),
  z.object({ type: z.literal('device-revoked') }),
  /** The account was suspended: its sockets hear SUSPENDED and close. */
  z.object({
    type: z.literal('suspended'),
    sessionId: SessionId,
    at: z.number().int().nonnegative(),
    reason: z.string().max(1000).optional(),
  }),
  /** An ephemeral application message: goes to the device's live sockets only, never stored. */
  z.object({ type: z.literal('ephemeral'), item: EphemeralItem }),
]);
export type BusMessage = z.infer<typeof BusMessage>;

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

/** The single-process bus; the NATS bus uses one inside for the sockets of its own node. */
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

  /** Devices with at least one subscriber here. */
  devices(): string[] {
    return this.#emitter.eventNames().filter((n): n is string => typeof n === 'string');
  }

  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
  }
}
