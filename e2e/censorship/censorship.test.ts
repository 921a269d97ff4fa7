/**
 * The censorship matrix under `npm test`: every profile of the brief (profiles.ts) through the
 * namespace rig (matrix.ts), one test each, and the table at the end. It needs root, iproute2,
 * nftables and network namespaces; anywhere else it skips and says so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hasChromium } from '../helpers.ts';
import { type Rig, type Row, startRig, table } from './matrix.ts';
import { rigUnavailable } from './netns.ts';
import { PROFILES } from './profiles.ts';

const why = hasChromium ? rigUnavailable() : 'no /usr/bin/chromium';
if (why !== undefined) {
  console.error(`\n!!! SKIPPING the censorship matrix: ${why} (it needs root and network namespaces) !!!\n`);
}

describe('censorship matrix', { skip: why ?? false, concurrency: false }, () => {
  let rig: Rig;
  const rows: Row[] = [];
  before(async () => {
    rig = await startRig((l) => console.error(l));
  });
  after(async () => {
    await rig?.close();
    if (rows.length > 0) console.log(`\n${table(rows)}\n`);
  });
  for (const profile of PROFILES) {
    test(`${profile.id}: ${profile.title}`, { todo: profile.todo ?? false }, async () => {
      const row = await rig.run(profile);
      rows.push(row);
      assert.ok(row.ok, `${profile.id}: ${row.error ?? 'failed'}`);
    });
  }
});
