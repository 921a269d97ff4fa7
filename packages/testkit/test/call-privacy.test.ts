/**
 * Call signalling never reaches the server in a form it can read: a 1:1 call between two SDK
 * clients (offer, ringing, answer, trickled candidates, selected, an ICE-restart offer and its
 * answer, hang-up) runs with a scripted media engine whose SDP and candidate lines the test writes
 * itself, and then every byte of the server's data folder (SQLite db, -wal, -shm), every row of its
 * PostgreSQL schema (when a PostgreSQL server answers) and everything it logged at debug level is
 * searched for those strings, raw and as hex and base64. The sibling privacy.test.ts does the same
 * for message texts, attachments and private keys.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { MediaEngine, MediaEngineOptions, MediaState } from '@kolokol/sdk';
import { ClientEvent } from '@kolokol/sdk';
import {
  disposeAllClients,
  encodings,
  filesUnder,
  type Needle,
  newClient,
  type SpawnedServer,
  spawnServer,
  type TestClient,
  waitFor,
} from '@kolokol/testkit';
import pg from 'pg';

const PG_URL = process.env.KOLOKOL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** ICE ufrag/pwd characters are letters and digits; a leading non-hex letter keeps them from looking like ids. */
const token = (prefix: string, bytes: number) =>
  `${prefix}${randomBytes(bytes)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')}`;

/**
 * A MediaEngine that writes SDP and candidate lines the test can look for, and reports
 * `connected` only once the peer's description and a candidate carrying that description's ufrag
 * arrived: the call connects only if the signalling really crossed the server.
 */
class ScriptedEngine implements MediaEngine {
  readonly options: MediaEngineOptions;
  readonly marker: string;
  /** Everything this engine handed to the SDK to send. */
  readonly sentSdp: string[] = [];
  readonly sentCandidates: string[] = [];
  /** Everything the SDK delivered from the peer. */
  readonly gotSdp: string[] = [];
  readonly gotCandidates: string[] = [];
  state: MediaState | 'new' = 'new';
  #remoteUfrag: string | undefined;
  #onCandidate: (c: string) => void = () => {};
  #onState: (s: MediaState) => void = () => {};

  constructor(options: MediaEngineOptions, marker: string) {
    this.options = options;
    this.marker = marker;
  }

  async createOffer(): Promise<string> {
    return this.#describe('actpass');
  }
  async createAnswer(): Promise<string> {
    return this.#describe('active');
  }
  async applyRemote(sdp: string): Promise<void> {
    this.gotSdp.push(sdp);
    this.#remoteUfrag = /^a=ice-ufrag:(\S+)$/m.exec(sdp)?.[1];
    this.#check();
  }
  async addCandidate(candidate: string): Promise<void> {
    this.gotCandidates.push(candidate);
    this.#check();
  }
  async restartIce(): Promise<string> {
    this.state = 'connecting';
    return this.#describe('actpass');
  }
  onLocalCandidate(fn: (c: string) => void): void {
    this.#onCandidate = fn;
  }
  onStateChange(fn: (s: MediaState) => void): void {
    this.#onState = fn;
  }
  close(): void {
    this.state = 'closed';
  }
  /** Media stalled: the caller's SDK answers with an ICE restart. */
  stall(): void {
    this.#set('disconnected');
  }

  #describe(setup: string): string {
    const ufrag = token('uf', 12);
    const port = randomInt(20_000, 60_000);
    const candidates = [
      `candidate:${randomInt(1e8, 1e9)} 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0 ufrag ${ufrag}`,
      `candidate:${randomInt(1e8, 1e9)} 1 udp 41885439 203.0.113.${randomInt(1, 254)} ${randomInt(20_000, 60_000)} typ relay raddr 127.0.0.1 rport ${port} generation 0 ufrag ${ufrag}`,
    ];
    const fingerprint = randomBytes(32)
      .toString('hex')
      .toUpperCase()
      .replace(/(..)(?!$)/g, '$1:');
    const media = (kind: string, mid: number) => [
      `m=${kind} ${port} UDP/TLS/RTP/SAVPF 111`,
      'c=IN IP4 127.0.0.1',
      `a=mid:${mid}`,
      `a=ice-ufrag:${ufrag}`,
      `a=ice-pwd:${token('pw', 24)}`,
      `a=fingerprint:sha-256 ${fingerprint}`,
      `a=setup:${setup}`,
      `a=x-privacy-marker:${this.marker}`,
    ];
    const sdp = [
      'v=0',
      `o=- ${randomInt(1e9, 2e9)} 2 IN IP4 127.0.0.1`,
      `s=${this.marker}`,
      't=0 0',
      ...media('audio', 0),
      ...(this.options.video ? media('video', 1) : []),
      '',
    ].join('\r\n');
    this.sentSdp.push(sdp);
    // Trickled after the description, as a browser does.
    setTimeout(() => {
      for (const c of candidates) {
        this.sentCandidates.push(c);
        this.#onCandidate(c);
      }
    }, 5);
    return sdp;
  }

  #check(): void {
    const ufrag = this.#remoteUfrag;
    if (ufrag !== undefined && this.gotCandidates.some((c) => c.endsWith(` ufrag ${ufrag}`)))
      this.#set('connected');
  }

  #set(s: MediaState): void {
    if (this.state === s || this.state === 'closed') return;
    this.state = s;
    this.#onState(s);
  }
}

/** The distinctive parts of what an engine sent: whole SDPs, their secret lines, candidate lines. */
function needlesOf(who: string, e: ScriptedEngine): Needle[] {
  const out: Needle[] = [];
  for (const [i, sdp] of e.sentSdp.entries()) {
    out.push(...encodings(`${who} SDP ${i}`, sdp));
    for (const line of sdp.split('\r\n'))
      if (/^a=(ice-ufrag|ice-pwd|fingerprint|x-privacy-marker):/.test(line))
        out.push(
          ...encodings(
            `${who} SDP ${i} ${line.slice(2, line.indexOf(':'))}`,
            line.slice(line.indexOf(':') + 1),
          ),
        );
  }
  for (const [i, c] of e.sentCandidates.entries()) out.push(...encodings(`${who} candidate ${i}`, c));
  return out;
}

/**
 * A call from alice to bob (contacts, so every candidate is sent) through `server`: rings, is
 * answered, connects, restarts ICE after a stall, reconnects and hangs up. Returns both engines
 * after checking that each received exactly what the other sent.
 */
async function callThrough(
  server: SpawnedServer,
): Promise<{ caller: ScriptedEngine; callee: ScriptedEngine }> {
  const marker = `CALLPRIV${randomBytes(8).toString('hex')}`;
  const engines = new Map<TestClient, ScriptedEngine[]>();
  const withEngine = (tc: TestClient) => {
    const list: ScriptedEngine[] = [];
    engines.set(tc, list);
    tc.client.calls.configure({
      media: (o) => {
        const e = new ScriptedEngine(o, marker);
        list.push(e);
        return e;
      },
      connectTimeoutMs: 15_000,
    });
    return tc;
  };
  const suffix = randomBytes(3).toString('hex');
  const alice = withEngine(await newClient(server, `alice_${suffix}`));
  const bob = withEngine(await newClient(server, `bob_${suffix}`));
  const conv = await alice.client.openDirect(bob.client.username);
  await waitFor(async () => (await bob.client.conversations()).some((c) => c.id === conv.id), 15_000, {
    what: 'bob joined the conversation',
  });
  await alice.client.addContact(bob.client.username);
  await bob.client.addContact(alice.client.username);

  const ringing = bob.client.waitFor(ClientEvent.CallIncoming, () => true, 15_000);
  const call = await alice.client.calls.start(conv.id, { video: true });
  const [incoming] = await ringing;
  await waitFor(() => call.remoteRinging, 15_000, { what: 'the caller hears ringing' });
  await incoming.accept();
  await waitFor(() => call.state === 'connected' && incoming.state === 'connected', 15_000, {
    what: 'the call connected',
  });
  const caller = engines.get(alice)?.[0];
  const callee = engines.get(bob)?.[0];
  assert.ok(caller !== undefined && callee !== undefined);
  caller.stall();
  await waitFor(() => caller.gotSdp.length >= 2 && caller.state === 'connected', 15_000, {
    what: 'the ICE restart answered and reconnected',
  });
  // Candidates ride the ephemeral path, each side's at its own pace, and may come twice (they are
  // sent again after a reconnect): wait for both sets while the call lives (an ended call drops
  // late ones), compare them as sets.
  const unique = (l: string[]) => [...new Set(l)].sort();
  await waitFor(() => unique(callee.gotCandidates).length === unique(caller.sentCandidates).length, 10_000, {
    what: 'every caller candidate reached the callee',
  });
  await waitFor(() => unique(caller.gotCandidates).length === unique(callee.sentCandidates).length, 10_000, {
    what: 'every callee candidate reached the caller',
  });
  assert.deepEqual(unique(callee.gotCandidates), unique(caller.sentCandidates));
  assert.deepEqual(unique(caller.gotCandidates), unique(callee.sentCandidates));
  const ended = bob.client.waitFor(ClientEvent.CallEnded, (c) => c.id === call.id, 15_000);
  await call.hangup();
  await ended;
  // The strings the test looks for are the ones that really crossed the server.
  assert.equal(caller.sentSdp.length, 2, 'offer and restart offer');
  assert.deepEqual(callee.gotSdp, caller.sentSdp);
  assert.deepEqual(caller.gotSdp, callee.sentSdp);

  return { caller, callee };
}

function scanner(needles: Needle[]) {
  return (label: string, haystack: Buffer) => {
    for (const n of needles) assert.equal(haystack.indexOf(n.bytes), -1, `${n.what} found in ${label}`);
  };
}

/** The scan does catch the strings: what the clients received, stored as a server might, fails it. */
function controlScan(
  scan: (label: string, haystack: Buffer) => void,
  caller: ScriptedEngine,
  callee: ScriptedEngine,
) {
  assert.throws(
    () => scan('control', Buffer.from(JSON.stringify({ sdp: callee.gotSdp }))),
    /found in control/,
  );
  assert.throws(() => scan('control', Buffer.from(caller.gotCandidates.join('\n'))), /found in control/);
  assert.throws(
    () => scan('control', Buffer.from(Buffer.from(caller.gotSdp[0] ?? '').toString('base64'))),
    /SDP/,
  );
}

describe('call signalling is opaque to the server', () => {
  after(disposeAllClients);

  test('SQLite: no SDP or candidate in the data folder or the logs', { timeout: 120_000 }, async () => {
    const server = await spawnServer({ args: ['--log-level', 'debug'] });
    try {
      const { caller, callee } = await callThrough(server);
      const scan = scanner([...needlesOf('caller', caller), ...needlesOf('callee', callee)]);
      controlScan(scan, caller, callee);
      const files = filesUnder(server.dataDir);
      assert.ok(
        files.some((f) => f.endsWith('kolokol.db')),
        `db present: ${files.join(', ')}`,
      );
      // While running (the -wal file holds the newest pages) and after a clean stop (checkpointed).
      for (const f of files) scan(f, readFileSync(f));
      // Control: the scan reads real content (usernames are not secret and must be there).
      assert.ok(
        files.some((f) => readFileSync(f).includes('bob_')),
        'the scan sees the stored usernames',
      );
      await server.kill('SIGTERM');
      for (const f of filesUnder(server.dataDir)) scan(f, readFileSync(f));
      const logs = server.logs();
      assert.ok(logs.length > 0, 'the server logged something');
      scan('server logs', Buffer.from(logs));
    } finally {
      await disposeAllClients();
      await server.close();
    }
  });

  test('PostgreSQL: no SDP or candidate in any row of the schema or in the logs', {
    timeout: 120_000,
  }, async (t) => {
    const db = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await db.connect();
    } catch (e) {
      process.stderr.write(
        `\n!!! SKIPPING the PostgreSQL call privacy scan: no PostgreSQL at ${new URL(PG_URL).host} (${e instanceof Error ? e.message : String(e)}).\n\n`,
      );
      t.skip('no PostgreSQL');
      return;
    }
    const schema = `kolokol_callpriv_${randomBytes(5).toString('hex')}`;
    const server = await spawnServer({
      args: [
        '--log-level',
        'debug',
        '--storage',
        'postgres',
        '--database-url',
        PG_URL,
        '--database-schema',
        schema,
        '--push',
        'off',
      ],
    });
    try {
      const { caller, callee } = await callThrough(server);
      const scan = scanner([...needlesOf('caller', caller), ...needlesOf('callee', callee)]);
      controlScan(scan, caller, callee);
      const tables = await db.query<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1',
        [schema],
      );
      assert.ok(tables.rows.length > 0, `tables in ${schema}`);
      let rows = 0;
      let all = '';
      for (const { table_name } of tables.rows) {
        // Every column as PostgreSQL prints it: bytea as \x hex, JSON as JSON text.
        const r = await db.query<{ row: string }>(`select t::text as row from "${schema}"."${table_name}" t`);
        rows += r.rows.length;
        for (const { row } of r.rows) all += `${row}\n`;
      }
      assert.ok(rows > 0 && all.includes('bob_'), 'the scan sees the stored rows and usernames');
      scan(`PostgreSQL schema ${schema}`, Buffer.from(all));
      await server.kill('SIGTERM');
      scan('server logs', Buffer.from(server.logs()));
    } finally {
      await disposeAllClients();
      await server.close();
      await db.query(`drop schema if exists "${schema}" cascade`).catch(() => {});
      await db.end();
    }
  });
});
