/**
 * `node bench/cpuprofile.ts FILE.cpuprofile [--top 30] [--from-ms 0]`: where the time of a V8 CPU
 * profile (`node --cpu-prof`, or `npm run bench -- compare --node-arg=--cpu-prof`) went, as text,
 * for a machine with no browser to open it in. Self time per function and per file or package, and
 * inclusive time per function (each function counted once per sample, however deep it recurses).
 * `--from-ms` skips the first milliseconds of the profile (start-up, registration).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const CallFrame = z.object({
  functionName: z.string(),
  url: z.string(),
  lineNumber: z.number(),
});
const Profile = z.object({
  nodes: z.array(
    z.object({ id: z.number(), callFrame: CallFrame, children: z.array(z.number()).optional() }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, 'from-ms': { type: 'string', default: '0' } },
});
const repoRoot = new URL('..', import.meta.url).href;
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: node bench/cpuprofile.ts FILE.cpuprofile [--top 30] [--from-ms 0]\n');
  process.exit(2);
}
const top = Number(values.top);
const fromUs = Number(values['from-ms']) * 1000;
const profile = Profile.parse(JSON.parse(readFileSync(file, 'utf8')));

/** Shortens a URL to what says where the code lives: a package, or a file of this repository. */
function place(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  return url.startsWith(repoRoot) ? url.slice(repoRoot.length) : url;
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const key = (id: number): string => {
  const f = byId.get(id)?.callFrame;
  if (f === undefined) return '?';
  return `${f.functionName || '(anonymous)'} ${place(f.url)}:${f.lineNumber + 1}`;
};
const fileOf = (id: number): string => place(byId.get(id)?.callFrame.url ?? '');

const self = new Map<string, number>();
const selfFile = new Map<string, number>();
const incl = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
let total = 0;
let t = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  const id = profile.samples[i];
  if (id === undefined || t < fromUs) continue;
  const k = key(id);
  if (k.startsWith('(idle)')) continue;
  total += dt;
  add(self, k, dt);
  add(selfFile, fileOf(id), dt);
  const seen = new Set<string>();
  for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
    const pk = key(p);
    if (seen.has(pk)) continue;
    seen.add(pk);
    add(incl, pk, dt);
  }
}

const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  const rows = [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of rows) {
    process.stdout.write(
      `${(v / 1000).toFixed(0).padStart(8)} ms ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`,
    );
  }
};
process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms of samples, not idle\n`);
print('self time by function', self);
print('self time by file or package', selfFile);
print('inclusive time by function', incl);
