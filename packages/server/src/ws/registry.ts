/**
 * Who holds which sockets, for the per-device and per-IP caps of the WebSocket path (one process;
 * a cluster applies them per node). Generic over the connection so that it stays testable.
 */
export class ConnectionRegistry<C> {
  readonly #byDevice = new Map<string, C[]>();
  readonly #unauthenticated = new Map<string, number>();

  /** Sockets from `ip` that have not finished `hello` yet. */
  unauthenticated(ip: string): number {
    return this.#unauthenticated.get(ip) ?? 0;
  }

  addUnauthenticated(ip: string): void {
    this.#unauthenticated.set(ip, this.unauthenticated(ip) + 1);
  }

  removeUnauthenticated(ip: string): void {
    const n = this.unauthenticated(ip) - 1;
    if (n > 0) this.#unauthenticated.set(ip, n);
    else this.#unauthenticated.delete(ip);
  }

  /** Registers a device's new connection; returns the oldest ones beyond `max`, to be closed. */
  addDevice(deviceId: string, conn: C, max: number): C[] {
    const list = this.#byDevice.get(deviceId) ?? [];
    list.push(conn);
    this.#byDevice.set(deviceId, list);
    return list.length > max ? list.splice(0, list.length - max) : [];
  }

  removeDevice(deviceId: string, conn: C): void {
    const list = this.#byDevice.get(deviceId);
    if (list === undefined) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byDevice.delete(deviceId);
  }
}
