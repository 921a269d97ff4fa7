import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { turnCredentials } from '../src/index.ts';
import { TurnTestClient } from './client.ts';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('kolokol-relay', () => {
  it('starts from flags and environment, prints one listening line, serves TURN, stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [main, '--udp-port', '0', '--tcp-port', '0', '--host', '127.0.0.1', '--relay-address', '127.0.0.1'],
      {
        env: {
          ...process.env,
          KOLOKOL_RELAY_SECRET: 'env-secret-0123456789',
          KOLOKOL_RELAY_ALLOW_LOOPBACK_PEERS: '1',
        },
      },
    );
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const match = /^Kolokol relay listening on udp:(\d+) tcp:(\d+)\n$/.exec(line);
      assert.ok(match, line);
      const c = await TurnTestClient.udp(Number(match[1]));
      try {
        const a = await c.allocate(turnCredentials('env-secret-0123456789', 'x', 60));
        assert.equal(a.code, 0);
      } finally {
        c.close();
      }
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 2 with a message on bad configuration', async () => {
    const child = spawn(process.execPath, [main, '--secret', 'short', '--relay-address', '127.0.0.1'], {
      env: { ...process.env, KOLOKOL_RELAY_SECRET: '' },
    });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(err, /secret/);
  });
});
