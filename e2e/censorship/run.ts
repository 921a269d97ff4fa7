/**
 * `npm run censorship [-- P0 P3 ...]`: the censorship matrix (matrix.ts) for every profile or the
 * ones named, then the table. Needs root and network namespaces; exits 1 when a cell is red.
 * KOLOKOL_TRACE=1 prints each step with its time and everything the pages log; extra Chromium
 * flags (e.g. its WebRTC logging: `--enable-logging=stderr --vmodule=p2p_transport_channel=1`,
 * seen with DEBUG=pw:browser) go in KOLOKOL_CHROMIUM_ARGS.
 */

import { type Row, startRig, table } from './matrix.ts';
import { rigUnavailable } from './netns.ts';
import { PROFILES } from './profiles.ts';

const why = rigUnavailable();
if (why !== undefined) {
  process.stderr.write(`censorship matrix: cannot run here: ${why}\n`);
  process.exit(2);
}
const wanted = process.argv.slice(2).map((a) => a.toUpperCase());
const profiles = wanted.length === 0 ? PROFILES : PROFILES.filter((p) => wanted.includes(p.id));
const rig = await startRig((l) => process.stderr.write(`${l}\n`));
const rows: Row[] = [];
try {
  for (const p of profiles) {
    process.stderr.write(`${p.id} ${p.title}…\n`);
    rows.push(await rig.run(p));
  }
} finally {
  await rig.close();
}
process.stdout.write(`${table(rows)}\n`);
for (const r of rows) if (r.error !== undefined) process.stdout.write(`${r.profile}: ${r.error}\n`);
process.exit(rows.every((r) => r.ok) ? 0 : 1);
