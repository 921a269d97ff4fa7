import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, ServerError } from '../src/index.ts';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function configError(argv: string[], env: Record<string, string> = {}, file?: string): string {
  try {
    loadConfig(argv, env, file);
  } catch (err) {
    assert.ok(err instanceof ServerError);
    assert.equal(err.code, 'CONFIG');
    return err.message;
  }
  assert.fail('expected a config error');
}

describe('configuration', () => {
  it('has defaults', () => {
    const c = loadConfig([], {});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, './data');
    assert.deepEqual(c.storage, { kind: 'sqlite' });
    assert.equal(c.registration, 'open');
    assert.deepEqual(c.retention, { maxAgeDays: 30, maxItemsPerDevice: 10000 });
    assert.equal(c.keyPackageLowWatermark, 10);
  });

  it('takes flags over environment over file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kolokol-config-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ port: 1000, name: 'From file', registration: 'invite' }));
      const c = loadConfig(['--port=3000'], { KOLOKOL_PORT: '2000', KOLOKOL_CONFIG: file });
      assert.equal(c.port, 3000);
      assert.equal(c.name, 'From file');
      assert.equal(c.registration, 'invite');
      assert.equal(loadConfig([], { KOLOKOL_PORT: '2000' }, file).port, 2000);
      const pg = loadConfig(['--storage', 'postgres', '--database-url', 'postgres://u@h/db'], {});
      assert.deepEqual(pg.storage, { kind: 'postgres', url: 'postgres://u@h/db' });
      writeFileSync(file, JSON.stringify({ colour: 'blue' }));
      assert.match(configError([], {}, file), /--config .*unknown key "colour"/);
      writeFileSync(file, '{');
      assert.match(configError(['--config', file]), /--config \(KOLOKOL_CONFIG\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('selects the NATS bus for a cluster', () => {
    assert.deepEqual(loadConfig([], {}).bus, { kind: 'local' });
    const pg = ['--storage', 'postgres', '--database-url', 'postgres://u@h/db'];
    const c = loadConfig([...pg, '--bus', 'nats'], {
      KOLOKOL_NATS_URL: 'nats://127.0.0.1:4222, nats://user:secret@n2:4222',
      KOLOKOL_NATS_PREFIX: 'chat.prod',
    });
    assert.deepEqual(c.bus, {
      kind: 'nats',
      servers: ['nats://127.0.0.1:4222', 'nats://user:secret@n2:4222'],
      subjectPrefix: 'chat.prod',
    });
    assert.match(configError(['--bus', 'nats', '--nats-url', 'nats://h:4222']), /--bus .*--storage postgres/);
    assert.match(configError([...pg, '--bus', 'nats']), /--nats-url \(KOLOKOL_NATS_URL\): required/);
    const bad = configError([...pg, '--bus', 'nats', '--nats-url', 'http://u:pw@h:4222']);
    assert.match(bad, /--nats-url/);
    assert.doesNotMatch(bad, /pw/, 'a password in the URL is not echoed');
    assert.match(
      configError([...pg, '--bus', 'nats', '--nats-url', 'nats://h', '--nats-prefix', 'a.*']),
      /--nats-prefix/,
    );
    assert.match(configError(['--bus', 'redis']), /--bus \(KOLOKOL_BUS\): must be one of local, nats/);
  });

  it('names the bad setting', () => {
    assert.equal(
      configError(['--port', 'abc']),
      'invalid setting --port (KOLOKOL_PORT): must be 0..65535, got "abc"',
    );
    assert.match(configError([], { KOLOKOL_PORT: '70000' }), /--port \(KOLOKOL_PORT\)/);
    assert.match(
      configError(['--storage', 'mysql']),
      /--storage \(KOLOKOL_STORAGE\): must be one of sqlite, postgres/,
    );
    assert.match(configError(['--storage', 'postgres']), /--database-url \(KOLOKOL_DATABASE_URL\): required/);
    assert.match(configError(['--registration', 'closed']), /--registration/);
    assert.match(configError(['--log-level', 'loud']), /--log-level/);
    assert.match(configError(['--retention-days', '0']), /--retention-days/);
    assert.match(configError(['--frobnicate']), /unknown option "--frobnicate"/);
    assert.match(configError(['--port']), /--port .*needs a value/);
  });

  it('main exits 2 with one line naming the setting, and prints --help', () => {
    const bad = spawnSync(process.execPath, [main, '--port', 'abc'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'kolokol: invalid setting --port (KOLOKOL_PORT): must be 0..65535, got "abc"\n');
    const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    for (const flag of [
      '--port',
      '--host',
      '--data',
      '--config',
      '--storage',
      '--database-url',
      '--registration',
    ]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
  });
});

describe('kolokol-server invite', () => {
  it('prints a single-use code that an invite-only server accepts', async () => {
    const { startServer } = await import('../src/index.ts');
    const { Api, deviceRegistration, keyPair, makeDevice, uniqueName } = await import('./helpers.ts');
    const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-invite-'));
    try {
      const run = spawnSync(process.execPath, [main, 'invite', '--data', dataDir], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const code = run.stdout.trim();
      assert.match(code, /^[A-Za-z0-9_-]{20,}$/);
      const server = await startServer({ dataDir, registration: 'invite', logLevel: 'silent' });
      try {
        const api = new Api(server.url);
        const attempt = async (inviteCode?: string): Promise<unknown> => {
          const identity = keyPair();
          const body: Record<string, unknown> = {
            username: uniqueName(),
            identityKey: identity.publicB64,
            device: deviceRegistration(makeDevice(identity)),
          };
          if (inviteCode !== undefined) body.inviteCode = inviteCode;
          const res = await api.req('POST', '/v1/accounts', body);
          return res.status === 200 ? 'ok' : (res.body as { error?: { code?: unknown } }).error?.code;
        };
        assert.equal(await attempt(), 'INVITE_REQUIRED');
        assert.equal(await attempt('not-a-real-code-000000'), 'INVALID_INVITE');
        assert.equal(await attempt(code), 'ok');
        assert.equal(await attempt(code), 'INVALID_INVITE', 'an invite works once');
      } finally {
        await server.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
