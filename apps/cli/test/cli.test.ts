/**
 * The real `kolokol` processes against a real server process: the command forms the acceptance
 * tests use, and the failure contract (exit status, one line on stderr).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, removeTempDir, repoRoot, type SpawnedServer, spawnServer } from '@kolokol/testkit';

const main = join(repoRoot, 'apps/cli/src/main.ts');
let server: SpawnedServer;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kolokol(args: string[], env?: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await kolokol(args);
  assert.equal(r.code, 0, `kolokol ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** A failure: the expected status and exactly one line on stderr matching `re`. */
async function fails(args: string[], code: number, re: RegExp, env?: Record<string, string>): Promise<void> {
  const r = await kolokol(args, env);
  assert.equal(r.code, code, `kolokol ${args.join(' ')}: status ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0] ?? '', re);
}

interface Line {
  id: string;
  from: string;
  fromDevice: string;
  conversation: string;
  text: string;
  sentAt: number;
  kind: string;
}

const jsonLines = (out: string): Line[] =>
  out
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as Line);

before(async () => {
  server = await spawnServer();
  dir = await makeTempDir('cli');
});

after(async () => {
  await server.close();
  await removeTempDir(dir);
});

describe('kolokol', () => {
  const home = (n: string) => join(dir, n);
  let groupId = '';

  test('register two users in two homes', async () => {
    const out = await ok([
      '--server',
      server.url,
      '--home',
      home('a'),
      'register',
      'alice',
      '--display-name',
      'Alice',
    ]);
    assert.match(out, /registered alice/);
    await ok(['--server', server.url, '--home', home('b'), 'register', 'bob']);
    const who = JSON.parse(await ok(['--home', home('a'), 'whoami', '--json'])) as {
      username: string;
      server: string;
    };
    assert.deepEqual([who.username, who.server], ['alice', server.url]);
  });

  test('send 1:1 and listen --json --count', async () => {
    await ok(['--home', home('a'), 'send', 'bob', 'hello bob']);
    await ok(['--home', home('a'), 'send', 'bob', 'second']);
    const before = Date.now();
    const lines = jsonLines(
      await ok(['--home', home('b'), 'listen', '--json', '--count', '2', '--timeout', '30']),
    );
    assert.deepEqual(
      lines.map((l) => [l.from, l.text, l.kind]),
      [
        ['alice', 'hello bob', 'text'],
        ['alice', 'second', 'text'],
      ],
    );
    const first = lines[0];
    assert.ok(first);
    assert.equal(lines[1]?.conversation, first.conversation);
    assert.ok(first.id.length > 0 && first.fromDevice.length > 0);
    assert.ok(first.sentAt > before - 120_000 && first.sentAt <= Date.now());
  });

  test('listen prints what an earlier command received first, and only once', async () => {
    await ok(['--home', home('a'), 'send', 'bob', 'while bob was away']);
    // Bob's own send syncs (and stores) alice's message before listen runs.
    await ok(['--home', home('b'), 'send', 'alice', 'hi alice']);
    const lines = jsonLines(
      await ok(['--home', home('b'), 'listen', '--json', '--count', '1', '--timeout', '20']),
    );
    assert.deepEqual(
      lines.map((l) => l.text),
      ['while bob was away'],
    );
    // Already printed: nothing new within the timeout, and --timeout alone exits 0.
    const again = await kolokol(['--home', home('b'), 'listen', '--json', '--timeout', '2']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), '');
    const a = jsonLines(
      await ok(['--home', home('a'), 'listen', '--json', '--count', '1', '--timeout', '20']),
    );
    assert.deepEqual([a[0]?.from, a[0]?.text], ['bob', 'hi alice']);
  });

  test('group create prints the id on the last line; send --group reaches the members', async () => {
    await ok(['--server', server.url, '--home', home('c'), 'register', 'carol']);
    const out = await ok(['--home', home('a'), 'group', 'create', 'Friends', 'bob', 'carol']);
    groupId = out.trim().split('\n').at(-1) ?? '';
    assert.match(groupId, /^[A-Za-z0-9_-]{8,64}$/);
    await ok(['--home', home('a'), 'send', '--group', groupId, 'hi friends']);
    for (const h of ['b', 'c']) {
      const lines = jsonLines(
        await ok(['--home', home(h), 'listen', '--json', '--count', '1', '--timeout', '30']),
      );
      assert.deepEqual(
        [lines[0]?.conversation, lines[0]?.from, lines[0]?.text],
        [groupId, 'alice', 'hi friends'],
      );
    }
    const convs = await ok(['--home', home('c'), 'conversations', '--json']);
    assert.ok(convs.includes(groupId));
  });

  test('link-code / link: the second device receives new messages', async () => {
    const code = (await ok(['--home', home('b'), 'link-code'])).trim();
    assert.ok(code.length > 20);
    await ok(['--server', server.url, '--home', home('b2'), 'link', code]);
    const me = JSON.parse(await ok(['--home', home('b2'), 'whoami', '--json'])) as { username: string };
    assert.equal(me.username, 'bob');
    await ok(['--home', home('a'), 'send', 'bob', 'to all of bob']);
    await ok(['--home', home('c'), 'send', '--group', groupId, 'carol to the group']);
    const lines = jsonLines(
      await ok(['--home', home('b2'), 'listen', '--json', '--count', '2', '--timeout', '40']),
    );
    assert.deepEqual(lines.map((l) => l.text).sort(), ['carol to the group', 'to all of bob']);
    const devices = await ok(['--home', home('b'), 'devices']);
    assert.equal(devices.trim().split('\n').length, 2);
  });

  test('failures: exit status and one line on stderr', async () => {
    await fails(['--home', home('a'), 'send', 'nobody_here', 'x'], 1, /unknown user nobody_here/);
    await fails(['--home', home('nothing'), 'send', 'bob', 'x'], 1, /no account/);
    await fails(['--home', home('a'), 'send', 'bob'], 2, /missing TEXT/);
    await fails(['--home', home('a'), 'frobnicate'], 2, /unknown command/);
    await fails(['--home', home('a'), 'listen', '--count', 'lots'], 2, /--count/);
    await fails(['--home', home('a'), 'send', '--bogus', 'bob', 'x'], 2, /bogus/);
    await fails([], 2, /missing command/);
    await fails(['--home', home('a'), 'send', '--group', 'nOSuchGroup123', 'x'], 1, /no group/);
    await fails(['--server', server.url, '--home', home('a'), 'register', 'alice2'], 1, /already/);
    await fails(
      ['--server', server.url, '--home', home('x'), 'register', 'alice'],
      1,
      /USERNAME_TAKEN|taken/i,
    );
    await fails(
      ['--server', 'http://127.0.0.1:1', '--home', home('y'), 'register', 'zed'],
      1,
      /cannot reach the server/,
    );
    await fails(
      ['--home', home('b2'), 'listen', '--json', '--count', '1', '--timeout', '1'],
      1,
      /timed out after 1 s/,
    );
  });

  test('server down: a one-line failure, not a hang', async () => {
    await server.kill('SIGTERM');
    await fails(['--home', home('a'), 'send', 'bob', 'x'], 1, /cannot reach the server/, {
      KOLOKOL_CONNECT_TIMEOUT_MS: '3000',
    });
    await server.restart();
  });

  test('help', async () => {
    const out = await ok(['help']);
    assert.match(out, /listen \[--json\]/);
    assert.match(await ok(['--help']), /Usage: kolokol/);
  });
});
