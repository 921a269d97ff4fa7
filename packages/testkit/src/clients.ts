import { join } from 'node:path';
import {
  type BackoffOptions,
  ClientEvent,
  KolokolClient,
  MemoryStore,
  type Store,
  type StoredMessage,
  type Transport,
} from '@kolokol/sdk';
import { SqliteStore } from '@kolokol/sdk/node';
import { makeTempDir, removeTempDir } from './tmp.ts';
import { waitFor } from './wait.ts';

export interface ClientOptions {
  /** 'memory' (default) or 'sqlite' (a kolokol.db in a fresh temporary folder). */
  store?: 'memory' | 'sqlite';
  transport?: Transport;
  displayName?: string;
  deviceName?: string;
  inviteCode?: string;
  /** Connect after registering (default true). */
  connect?: boolean;
  /** Reconnect policy; tests that restart the server shorten it. */
  backoff?: BackoffOptions;
}

/** A client plus what the test needs to clean up or reopen it. */
export interface TestClient {
  client: KolokolClient;
  store: Store;
  /** The folder of a SQLite store, for reopening the same device. */
  dir: string | undefined;
  /** Closes the client and removes its temporary folder. */
  dispose(): Promise<void>;
}

const toClose = new Set<TestClient>();

async function makeStore(kind: 'memory' | 'sqlite'): Promise<{ store: Store; dir: string | undefined }> {
  if (kind === 'memory') return { store: new MemoryStore(), dir: undefined };
  const dir = await makeTempDir('client');
  return { store: new SqliteStore(join(dir, 'kolokol.db')), dir };
}

function track(client: KolokolClient, store: Store, dir: string | undefined): TestClient {
  const tc: TestClient = {
    client,
    store,
    dir,
    async dispose() {
      toClose.delete(tc);
      await client.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      if (dir !== undefined) await removeTempDir(dir);
    },
  };
  toClose.add(tc);
  return tc;
}

/** Registers `username` on `server` with a fresh store and connects it. */
export async function newClient(
  server: string | { url: string },
  username: string,
  opts?: ClientOptions,
): Promise<TestClient> {
  const url = typeof server === 'string' ? server : server.url;
  const { store, dir } = await makeStore(opts?.store ?? 'memory');
  const client = await KolokolClient.register({
    server: url,
    username,
    store,
    ...(opts?.displayName === undefined ? {} : { displayName: opts.displayName }),
    ...(opts?.deviceName === undefined ? {} : { deviceName: opts.deviceName }),
    ...(opts?.inviteCode === undefined ? {} : { inviteCode: opts.inviteCode }),
    ...(opts?.transport === undefined ? {} : { transport: opts.transport }),
    ...(opts?.backoff === undefined ? {} : { backoff: opts.backoff }),
  });
  const tc = track(client, store, dir);
  if (opts?.connect !== false) {
    await client.connect();
    await client.sync();
  }
  return tc;
}

/** Adds a second device to `of`'s account through a link code, connected and synced. */
export async function linkDevice(
  of: KolokolClient | TestClient,
  opts?: Omit<ClientOptions, 'displayName' | 'inviteCode'>,
): Promise<TestClient> {
  const existing = of instanceof KolokolClient ? of : of.client;
  const code = await existing.createLinkCode();
  const { store, dir } = await makeStore(opts?.store ?? 'memory');
  const client = await KolokolClient.link({
    server: existing.server,
    code,
    store,
    ...(opts?.deviceName === undefined ? {} : { deviceName: opts.deviceName }),
    ...(opts?.transport === undefined ? {} : { transport: opts.transport }),
    ...(opts?.backoff === undefined ? {} : { backoff: opts.backoff }),
  });
  const tc = track(client, store, dir);
  if (opts?.connect !== false) {
    await client.connect();
    await client.sync();
  }
  return tc;
}

/** Reopens a closed client on the same store (a restarted app on the same device). */
export async function reopenClient(
  tc: TestClient,
  opts?: { transport?: Transport; connect?: boolean; backoff?: BackoffOptions },
): Promise<TestClient> {
  toClose.delete(tc);
  const client = await KolokolClient.open({
    store: tc.store,
    ...(opts?.transport === undefined ? {} : { transport: opts.transport }),
    ...(opts?.backoff === undefined ? {} : { backoff: opts.backoff }),
  });
  const again = track(client, tc.store, tc.dir);
  if (opts?.connect !== false) {
    await client.connect();
    await client.sync();
  }
  return again;
}

/** Disposes every client created through this module that is still open (for `after` hooks). */
export async function disposeAllClients(): Promise<void> {
  await Promise.all([...toClose].map((tc) => tc.dispose()));
}

export interface Collected {
  /** Every Message event, in arrival order, duplicates included. */
  readonly all: StoredMessage[];
  /** Texts of incoming text messages, in arrival order. */
  texts(): string[];
  /** Waits until at least `n` messages passing `filter` arrived; returns them. */
  waitForCount(
    n: number,
    timeoutMs?: number,
    filter?: (m: StoredMessage) => boolean,
  ): Promise<StoredMessage[]>;
  stop(): void;
}

/** Records every Message event of a client. */
export function collectMessages(c: KolokolClient | TestClient): Collected {
  const client = c instanceof KolokolClient ? c : c.client;
  const all: StoredMessage[] = [];
  const on = (m: StoredMessage) => {
    all.push(m);
  };
  client.on(ClientEvent.Message, on);
  return {
    all,
    texts: () => all.flatMap((m) => (m.body.type === 'text' ? [m.body.text] : [])),
    async waitForCount(n, timeoutMs = 15_000, filter = () => true) {
      await waitFor(() => all.filter(filter).length >= n, timeoutMs, {
        what: `${n} messages at ${client.username}/${client.deviceId.slice(0, 6)}`,
        describe: () => `got ${all.filter(filter).length}`,
      });
      return all.filter(filter);
    },
    stop: () => {
      client.off(ClientEvent.Message, on);
    },
  };
}

/** A username unique within a run (servers in tests are fresh, but clarity helps the logs). */
let counter = 0;
export const uniqueName = (prefix: string): string =>
  `${prefix}_${(++counter).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 32);
