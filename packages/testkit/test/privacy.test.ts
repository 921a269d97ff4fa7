/**
 * The server never holds plaintext or private keys: after a full run (texts, a group, an
 * attachment, a linked device), every byte of its data folder (SQLite db, -wal, -shm, attachment
 * blobs) and everything it logged (at debug level) is searched for the message texts, the
 * attachment's content and every client private key, raw and as hex, base64 and base64url.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { StoredMessage } from '@kolokol/sdk';
import {
  collectMessages,
  disposeAllClients,
  encodings,
  filesUnder,
  linkDevice,
  type Needle,
  newClient,
  type SpawnedServer,
  spawnServer,
  type TestClient,
  waitFor,
} from '@kolokol/testkit';

let server: SpawnedServer;

before(async () => {
  server = await spawnServer({ args: ['--log-level', 'debug'] });
});

after(async () => {
  await disposeAllClients();
  await server.close();
});

async function keyNeedles(tc: TestClient): Promise<Needle[]> {
  const account = await tc.store.getAccount();
  assert.ok(account);
  const who = `${account.username}/${account.device.deviceId.slice(0, 6)}`;
  return [
    ...encodings(`${who} identity private key`, account.identity.privateKey),
    ...encodings(`${who} device private key`, account.device.privateKey),
  ];
}

test('no plaintext and no private key in the server data folder or its logs', {
  timeout: 120_000,
}, async () => {
  const marker = `PRIV-${crypto.randomUUID()}`;
  const alice = await newClient(server.url, 'alice');
  const bob = await newClient(server.url, 'bob');
  const bob2 = await linkDevice(bob);
  const carol = await newClient(server.url, 'carol');
  const clients = [alice, bob, bob2, carol];
  const bobSeen = collectMessages(bob2);

  const texts = Array.from({ length: 20 }, (_, i) => `${marker} text ${i} ${'secret words '.repeat(i % 4)}`);
  const dm = await alice.client.openDirect('bob');
  const group = await carol.client.createGroup(`${marker} group title`, ['alice', 'bob']);
  for (const d of [alice, bob, bob2]) {
    await waitFor(async () => (await d.client.conversations()).some((c) => c.id === group.id), 15_000, {
      what: 'joined',
    });
  }
  for (const [i, t] of texts.entries())
    await (i % 2 === 0 ? alice : carol).client.sendText(i % 2 === 0 ? dm.id : group.id, t);
  const fileText = `${marker} attachment body `.repeat(2000);
  const fileBytes = new TextEncoder().encode(fileText);
  await alice.client.sendAttachment(dm.id, { name: `${marker}.txt`, mime: 'text/plain', bytes: fileBytes });

  // Bob's second device got everything, and the attachment decrypts: the run really happened.
  const got = await bobSeen.waitForCount(texts.length + 1, 30_000);
  const att = got.find((m: StoredMessage) => m.body.type === 'attachment');
  assert.ok(att && att.body.type === 'attachment');
  assert.deepEqual(await bob2.client.downloadAttachment(att.body.attachment), fileBytes);

  const needles: Needle[] = [
    ...texts.flatMap((t, i) => [
      { what: `text ${i}`, bytes: Buffer.from(t) },
      { what: `text ${i} (base64)`, bytes: Buffer.from(Buffer.from(t).subarray(0, 30).toString('base64')) },
    ]),
    { what: 'the marker', bytes: Buffer.from(marker) },
    { what: 'attachment plaintext', bytes: Buffer.from(fileBytes.subarray(0, 64)) },
    ...encodings('attachment plaintext', fileBytes.subarray(100, 160)),
  ];
  for (const c of clients) needles.push(...(await keyNeedles(c)));

  const scan = (label: string, haystack: Buffer) => {
    for (const n of needles) assert.equal(haystack.indexOf(n.bytes), -1, `${n.what} found in ${label}`);
  };
  // While running (the -wal file holds the newest pages) and after a clean stop (checkpointed).
  const files = filesUnder(server.dataDir);
  assert.ok(
    files.some((f) => f.endsWith('kolokol.db')),
    `db present: ${files.join(', ')}`,
  );
  assert.ok(
    files.some((f) => f.includes('attachments')),
    'attachment blob present',
  );
  for (const f of files) scan(f, readFileSync(f));
  // Control: the scan reads real content (usernames are not secret and must be there).
  assert.ok(
    files.some((f) => readFileSync(f).includes('carol')),
    'the scan sees the stored usernames',
  );
  await server.kill('SIGTERM');
  for (const f of filesUnder(server.dataDir)) scan(f, readFileSync(f));
  const logs = server.logs();
  assert.ok(logs.length > 0, 'the server logged something');
  scan('server logs', Buffer.from(logs));
});
