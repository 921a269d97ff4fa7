/**
 * The delivery benchmark still runs end to end (its numbers are read by people, never asserted):
 * a server change that breaks the harness should fail here, not on the next person who runs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('npm run bench -- delivery runs with a tiny load and prints its table', async () => {
  const run = fileURLToPath(new URL('../../../bench/run.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [run, 'delivery', '--clients', '100', '--rate', '20', '--duration', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // 100 clients, connecting at once: more than a server lets one address hold before hello, so the harness must keep
  // lifting every per-IP limit it runs into.
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  const row = out.split('\n').find((l) => /^\|\s+100 \|/.test(l));
  assert.ok(row, `no result row for N=100 in:\n${out}`);
  const cells = row.split('|').map((c) => c.trim());
  const [delivered, sent] = (cells[4] ?? '').split('/').map(Number);
  assert.ok(sent !== undefined && sent > 0, row);
  assert.equal(delivered, sent, `every message delivered: ${row}`);
});
