import { Worker } from 'node:worker_threads';

/**
 * Moves SQLite's WAL checkpoints off the event loop. A checkpoint copies the pages the WAL has
 * gathered into the database file and fsyncs it; SQLite runs it inside the COMMIT that pushes the
 * WAL past `wal_autocheckpoint` pages, which under load stalled the whole server for 20-30 ms every
 * few hundred milliseconds. A worker thread now checkpoints every `intervalMs` on a connection of
 * its own (PASSIVE: it waits for no lock and blocks no writer). The server's connection keeps an
 * automatic checkpoint at a higher WAL size (sqlite.ts), which bounds the WAL if the worker falls
 * behind or dies, and which under continuous writes is what lets the WAL start over from its
 * beginning: it then finds the pages already copied and only has little left to do.
 */
export class Checkpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;

  constructor(path: string, intervalMs = 100) {
    this.#worker = new Worker(new URL('./checkpoint-worker.ts', import.meta.url), {
      workerData: { path, intervalMs },
      // It holds one prepared statement; keep its heap small.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    // Checkpoints are an optimisation: a worker that fails leaves them to the server's connection.
    this.#worker.on('error', () => {});
    this.#worker.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
  }

  async stop(): Promise<void> {
    this.#worker.postMessage('stop');
    const timeout = setTimeout(() => void this.#worker.terminate(), 5000);
    await this.#exited;
    clearTimeout(timeout);
  }
}
