/**
 * The SFrame transform worker's logic in Node: synthetic encoded frames through the same
 * per-frame function the worker runs, keyed from two real MLS members (alice's and bob's devices in
 * a direct conversation on a real in-process server), including a key rotation on an epoch change.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KolokolClient, MemoryStore } from '@kolokol/sdk';
import { startServer } from '@kolokol/server';
import { type EncodedFrameLike, SFrameSession } from '../src/index.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const backoff = { baseMs: 20, maxMs: 200 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-calls-sframe-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function user(prefix: string): Promise<KolokolClient> {
  const c = await KolokolClient.register({
    server: server.url,
    username: `${prefix}_${process.pid % 10000}_${clients.length}`,
    store: new MemoryStore(),
    backoff,
  });
  clients.push(c);
  await c.connect();
  return c;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not reached: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs one frame through a session's transformer, as the worker's TransformStream would. */
function run(s: SFrameSession, dir: 'send' | 'receive', kind: 'audio' | 'video', f: EncodedFrameLike) {
  const out: EncodedFrameLike[] = [];
  s.transformer(dir, kind)(f, { enqueue: (x) => out.push(x) });
  return out[0];
}

const frame = (bytes: Uint8Array, type?: string): EncodedFrameLike => ({
  data: bytes.slice().buffer,
  ...(type === undefined ? {} : { type }),
});
const bytesOf = (f: EncodedFrameLike | undefined) => new Uint8Array(f?.data ?? new ArrayBuffer(0));

describe('SFrame transform with keys from MLS', () => {
  it('alice encrypts, bob decrypts; codec prefix stays clear; tampering, replay and strangers fail; rotation', async () => {
    const alice = await user('sa');
    const bob = await user('sb');
    const conv = await alice.openDirect(bob.username);
    await eventually(async () => (await bob.conversations()).some((c) => c.id === conv.id), 'bob joined');
    await bob.sync();
    const aKeys = await alice.calls.mediaKeys(conv.id);
    const bKeys = await bob.calls.mediaKeys(conv.id);
    assert.equal(aKeys.epoch, bKeys.epoch);
    assert.notEqual(aKeys.own.kid, bKeys.own.kid);

    const a = new SFrameSession();
    const b = new SFrameSession();
    // Before keys: nothing goes out (never in the clear).
    assert.equal(run(a, 'send', 'audio', frame(new Uint8Array([1, 2, 3]))), undefined);
    a.setKeys(aKeys);
    b.setKeys(bKeys);

    // A VP8 key frame: the 10-byte payload header stays readable for the packetizer.
    const vp8 = new Uint8Array(1200).map((_, i) => (i * 7) & 0xff);
    const sealed = run(a, 'send', 'video', frame(vp8, 'key'));
    const wire = bytesOf(sealed);
    assert.deepEqual(wire.subarray(0, 10), vp8.subarray(0, 10));
    assert.ok(wire.length > vp8.length);
    assert.equal(Buffer.from(wire).indexOf(Buffer.from(vp8.subarray(10, 40))), -1, 'payload is ciphertext');
    const opened = run(b, 'receive', 'video', frame(wire, 'key'));
    assert.deepEqual(bytesOf(opened), vp8);

    // Opus frames both ways.
    const opus = new Uint8Array([0x78, ...new Uint8Array(80).fill(9)]);
    const fromBob = bytesOf(run(b, 'send', 'audio', frame(opus)));
    assert.deepEqual(bytesOf(run(a, 'receive', 'audio', frame(fromBob))), opus);

    // A flipped bit, a replay, and the clear prefix changed (it is authenticated): all dropped.
    const again = bytesOf(run(a, 'send', 'audio', frame(opus)));
    const flipped = again.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    assert.equal(run(b, 'receive', 'audio', frame(flipped)), undefined);
    const prefix = again.slice();
    prefix[0] = 0x79;
    assert.equal(run(b, 'receive', 'audio', frame(prefix)), undefined);
    assert.ok(run(b, 'receive', 'audio', frame(again)));
    assert.equal(run(b, 'receive', 'audio', frame(again)), undefined);
    assert.equal(b.stats.dropped.REPLAY, 1);
    assert.equal(b.stats.dropped.DECRYPT_FAILED, 2);

    // A member of another conversation (carol with alice) cannot read alice's frames here.
    const carol = await user('sc');
    const other = await carol.openDirect(alice.username);
    const c = new SFrameSession();
    c.setKeys(await carol.calls.mediaKeys(other.id));
    assert.equal(run(c, 'receive', 'audio', frame(bytesOf(run(a, 'send', 'audio', frame(opus))))), undefined);

    // Epoch change: bob links a second device, the group commits, both re-key.
    const inFlight = bytesOf(run(a, 'send', 'audio', frame(opus)));
    const code = await bob.createLinkCode();
    clients.push(await KolokolClient.link({ server: server.url, code, store: new MemoryStore(), backoff }));
    await eventually(async () => (await bob.calls.mediaKeys(conv.id)).epoch > bKeys.epoch, 'bob epoch');
    await eventually(async () => {
      await alice.sync();
      return (await alice.calls.mediaKeys(conv.id)).epoch > aKeys.epoch;
    }, 'alice epoch');
    const a2 = await alice.calls.mediaKeys(conv.id);
    const b2 = await bob.calls.mediaKeys(conv.id);
    assert.equal(a2.epoch, b2.epoch);
    assert.notDeepEqual(a2.baseKey, aKeys.baseKey);
    a.setKeys(a2);
    b.setKeys(b2);
    // A frame sent under the old epoch still opens during the grace period...
    assert.deepEqual(bytesOf(run(b, 'receive', 'audio', frame(inFlight))), opus);
    // ...and new frames use the new epoch's key.
    const fresh = bytesOf(run(a, 'send', 'audio', frame(opus)));
    assert.deepEqual(bytesOf(run(b, 'receive', 'audio', frame(fresh))), opus);
    // A session still on the old epoch cannot read the new one.
    const stale = new SFrameSession();
    stale.setKeys(bKeys);
    assert.equal(run(stale, 'receive', 'audio', frame(fresh)), undefined);
    assert.equal(stale.stats.dropped.WRONG_EPOCH, 1);
  });
});
