/**
 * The README's quick start, as a person runs it: `npm start` builds the web app if needed, starts
 * the server on its embedded defaults (SQLite, TLS with a self-signed certificate beside plain
 * HTTP, the built-in TURN relay) and prints the URL, which serves the messenger and its API; and
 * Ctrl-C stops it cleanly. Only the port and the data folder are not the defaults, so that the test
 * runs beside others (and TURN listens on free ports for the same reason).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../scripts/webapp.ts';

test('npm start serves the web app and the API at the printed URL, and stops on SIGINT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-start-'));
  const child = spawn(
    'npm',
    ['start', '--', '--port', '0', '--data', dir, '--turn-udp-port', '0', '--turn-tcp-port', '0'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within 240 s:\n${out}`)), 240_000);
      const look = () => {
        const m = /Kolokol listening on (http\S+)/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', look);
      void exited.then((code) => reject(new Error(`npm start exited (${code}):\n${out}`)));
    });
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<div id="root">|<script type="module"/, 'the web app, not an explanation');
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { registration?: string };
    assert.equal(info.registration, 'open');
    const turn = await fetch(`${url}/v1/turn`);
    assert.equal(turn.status, 401, 'TURN credentials only for a signed-in device');
  } finally {
    // npm runs the start script in its own process group: Ctrl-C reaches all of it.
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((r) => {
        timer = setTimeout(() => r('hung'), 20_000);
      }),
    ]);
    clearTimeout(timer);
    if (code === 'hung' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    assert.notEqual(code, 'hung', `npm start did not stop on SIGINT:\n${out}`);
  }
});
