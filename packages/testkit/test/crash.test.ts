/**
 * Crash safety: the server process is killed with SIGKILL in the middle of a stream of sends and
 * restarted on the same data folder and port. Every send the server acknowledged must arrive
 * exactly once, in order, at every recipient device; the sender's outbox delivers the rest.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StoredMessage } from '@kolokol/sdk';
import {
  type Collected,
  collectMessages,
  disposeAllClients,
  linkDevice,
  newClient,
  type SpawnedServer,
  sleep,
  spawnServer,
  type TestClient,
  waitFor,
} from '@kolokol/testkit';

/** 2,000 sends, as the brief asks (KOLOKOL_CRASH_SENDS changes it for quick local runs). */
const TOTAL = Number(process.env.KOLOKOL_CRASH_SENDS ?? 2000);
const IN_FLIGHT = 16;
const KILL_AT = Math.floor(TOTAL * 0.4);
const backoff = { baseMs: 100, maxMs: 1000 };

let server: SpawnedServer;

before(async () => {
  server = await spawnServer();
});

after(async () => {
  await disposeAllClients();
  await server.close();
});

const textOf = (m: StoredMessage): string | undefined => (m.body.type === 'text' ? m.body.text : undefined);

test(`SIGKILL mid-stream of ${TOTAL} sends: acknowledged sends arrive exactly once, in order`, {
  // About 90 s alone on two cores; the bound leaves room for a fully loaded CI machine.
  timeout: 420_000,
}, async () => {
  // Memory stores: the server is what crashes here, and fsyncs on four client stores would dominate the run.
  const opts = { store: 'memory', backoff } as const;
  const sender = await newClient(server.url, 'sender', opts);
  const r1 = await newClient(server.url, 'rcpt', opts);
  const r1b = await linkDevice(r1, opts);
  const r2 = await newClient(server.url, 'rcpt2', opts);
  const dm = await sender.client.openDirect('rcpt');
  const group = await sender.client.createGroup('crash group', ['rcpt', 'rcpt2']);
  for (const d of [r1, r1b, r2]) {
    await waitFor(async () => (await d.client.conversations()).some((c) => c.id === group.id), 15_000, {
      what: `${d.client.username} joined the group`,
    });
  }
  const seen = new Map<TestClient, Collected>([r1, r1b, r2].map((d) => [d, collectMessages(d)]));

  // Every 10th send goes to the group, the rest to the direct conversation.
  const convOf = (i: number) => (i % 10 === 9 ? group.id : dm.id);
  const acked = new Set<number>();
  const failed = new Map<number, string>();
  let next = 0;
  let killed = false;
  let restarted: Promise<void> | undefined;
  const started = Date.now();

  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      if (!killed && acked.size >= KILL_AT) {
        killed = true;
        restarted = (async () => {
          await server.kill('SIGKILL');
          await sleep(300);
          await server.restart();
        })();
      }
      try {
        await sender.client.sendText(convOf(i), `m ${i}`);
        acked.add(i);
      } catch (e) {
        failed.set(i, e instanceof Error ? e.message : String(e));
      }
    }
  };
  // Sends to one conversation leave in call order (the SDK chains them); a few workers keep some in flight.
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  await restarted;
  assert.ok(killed, 'the server was killed mid-stream');
  const sendMs = Date.now() - started;
  process.stderr.write(`# crash: ${TOTAL} sends acknowledged in ${sendMs} ms across a SIGKILL + restart\n`);

  const expectedIn = (convId: string) =>
    Array.from({ length: TOTAL }, (_, i) => i).filter((i) => convOf(i) === convId);
  const check = async (d: TestClient, convId: string) => {
    const c = seen.get(d);
    assert.ok(c);
    const want = expectedIn(convId);
    const mustHave = want.filter((i) => acked.has(i));
    const got = () =>
      c.all
        .filter((m) => m.conversationId === convId)
        .flatMap((m) => {
          const t = textOf(m);
          return t?.startsWith('m ') ? [Number(t.slice(2))] : [];
        });
    await waitFor(() => mustHave.every((i) => got().includes(i)), 60_000 + TOTAL * 80, {
      what: `${mustHave.length} acknowledged messages at ${d.client.username}/${d.client.deviceId.slice(0, 6)}`,
      describe: () =>
        `have ${new Set(got()).size}, first missing ${mustHave.find((i) => !got().includes(i))}`,
    });
    const g = got();
    assert.equal(new Set(g).size, g.length, 'no duplicates');
    assert.deepEqual(
      g,
      [...g].sort((a, b) => a - b),
      'in send order',
    );
    for (const i of g) assert.ok(want.includes(i));
  };
  await check(r1, dm.id);
  await check(r1b, dm.id);
  for (const d of [r1, r1b, r2]) await check(d, group.id);
  assert.equal(failed.size, 0, `sends that failed for good: ${[...failed].slice(0, 3).join('; ')}`);
  assert.equal(acked.size, TOTAL);
  process.stderr.write(`# crash: all delivered after ${Date.now() - started} ms\n`);
});
