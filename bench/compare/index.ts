/**
 * `npm run bench -- compare`: Kolokol, ejabberd and Prosody (and a Kolokol cluster once the server
 * has one) under one harness: idle memory per connection, and the highest constant 1:1 delivery
 * rate each sustains with p99 <= 100 ms and every message delivered. See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { idleMemory, type MemoryPoint, type RampOptions, ramp, type Step, summarize } from './harness.ts';
import { ensureXmppServers, packageVersion } from './install.ts';
import { clusterSupported, kolokolTarget } from './kolokol.ts';
import { HARNESS_CPU, hasTaskset, onInterrupt, RAISE_NOFILE, tryRun } from './proc.ts';
import type { Target, TargetOptions } from './target.ts';
import { xmppTarget } from './xmpp.ts';

const PINNED_ENV = 'KOLOKOL_COMPARE_HARNESS';
const DEFAULT_RATES = '250,500,1000,1500,2000,3000,4000,6000,8000,12000,16000,24000,32000';
const TARGETS = ['kolokol', 'ejabberd', 'prosody', 'cluster'] as const;
type TargetName = (typeof TARGETS)[number];
const isTargetName = (s: string): s is TargetName => (TARGETS as readonly string[]).includes(s);

const USAGE = `npm run bench -- compare [--targets kolokol,ejabberd,prosody,cluster] [--variants default,durable]
    [--sizes 1000,5000,10000] [--pairs 50] [--rates ${DEFAULT_RATES}] [--step-seconds 10]
    [--p99 100] [--refine 1] [--body 256] [--database-url URL] [--nats-url URL] [--node-arg FLAG]...
  --sizes ''   skips idle memory; --rates ''  skips the delivery ramp
  --node-arg   a flag for node before Kolokol's server script, e.g. --node-arg=--cpu-prof
               --node-arg=--cpu-prof-dir=/tmp/prof (the profile is written when the server stops)
`;

interface Row {
  target: string;
  storage: string;
  memory: MemoryPoint[];
  steps: Step[];
  note: string;
}

function machine(): string {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const versions = [
    `Node ${process.version}`,
    `ejabberd ${packageVersion('ejabberd') ?? 'not installed'}`,
    `Prosody ${packageVersion('prosody') ?? 'not installed'}`,
  ];
  return `${model}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; ${versions.join(', ')}`;
}

async function measure(
  make: (o: TargetOptions) => Target,
  durable: boolean,
  sizes: number[],
  rampOpts: RampOptions,
): Promise<Row> {
  const dirs: string[] = [];
  const removeDirs = (): void => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  const release = onInterrupt(async () => removeDirs());
  const fresh = (): Target => {
    const dir = mkdtempSync(join(tmpdir(), 'kolokol-compare-'));
    dirs.push(dir);
    return make({ dir, durable });
  };
  const probe = fresh();
  const row: Row = { target: probe.name, storage: probe.storage, memory: [], steps: [], note: '' };
  process.stderr.write(`${probe.name}, ${probe.storage}\n`);
  // Each measurement on a server of its own: the ramp should not inherit 10k idle accounts.
  const phases: Array<[string, (t: Target) => Promise<void>]> = [];
  if (sizes.length > 0 && !durable)
    phases.push([
      'idle memory',
      async (t) => {
        row.memory = await idleMemory(t, sizes);
      },
    ]);
  if (rampOpts.rates.length > 0)
    phases.push([
      'ramp',
      async (t) => {
        row.steps = await ramp(t, rampOpts);
      },
    ]);
  try {
    for (const [k, [what, run]] of phases.entries()) {
      const t = k === 0 ? probe : fresh();
      try {
        await t.start();
        await run(t);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.note += `${what} failed: ${msg.split('\n')[0]} `;
        process.stderr.write(`  ${what} failed: ${msg}\n  server log (tail):\n${t.log().slice(-3000)}\n`);
      } finally {
        await t.stop();
        settleHarness();
      }
    }
  } finally {
    removeDirs();
    release();
  }
  return row;
}

function table(rows: Row[], sizes: number[], p99Limit: number): string {
  const sorted = [...sizes].sort((a, b) => a - b);
  const head = [
    'server',
    'storage per message',
    ...sorted.map((n) => `KB/idle conn N=${n}`),
    ...(sorted.length > 1 ? [`KB/conn N=${sorted.at(-2)}->${sorted.at(-1)}`] : []),
    `max rate/s (p99<=${p99Limit}ms, all delivered)`,
    'p50 / p99 ms at max',
    'srv CPU% at max',
    'next step: delivered, p99 ms, srv / harness CPU%',
  ];
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const lines = rows.map((r) => {
    const { best, limit } = summarize(r.steps);
    const mem = sorted.map((n) => {
      const m = r.memory.find((p) => p.n === n);
      return m === undefined ? '-' : f1(m.bytesPerConn / 1024);
    });
    // What one more connection costs, from the last two sizes: the per-size figure counts from
    // the RSS after registering every account, and a heap grown by that registration may hold the
    // first connections for free (Kolokol's 0.1 KB at N=1000 after 10k registrations).
    const [lo, hi] = [sorted.at(-2), sorted.at(-1)].map((n) => r.memory.find((p) => p.n === n));
    if (sorted.length > 1)
      mem.push(
        lo === undefined || hi === undefined ? '-' : f1(((hi.rssMb - lo.rssMb) * 1024) / (hi.n - lo.n)),
      );
    const next =
      limit === undefined
        ? r.steps.length > 0
          ? 'none failed (raise --rates)'
          : '-'
        : `${limit.rate}/s: ${limit.delivered}/${limit.sent}, ${f1(limit.p99)}, ${limit.serverCpu.toFixed(0)} / ${limit.harnessCpu.toFixed(0)}`;
    return [
      r.target,
      r.storage + (r.note === '' ? '' : ` (${r.note.trim()})`),
      ...mem,
      best === undefined ? (r.steps.length > 0 ? `< ${r.steps[0]?.rate ?? '?'}` : '-') : String(best.rate),
      best === undefined ? '-' : `${f1(best.p50)} / ${f1(best.p99)}`,
      best === undefined ? '-' : best.serverCpu.toFixed(0),
      next,
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? '').length)));
  const fmt = (cells: string[]) => `| ${cells.map((x, c) => x.padEnd(widths[c] ?? 0)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

const list = (s: string): string[] => s.split(',').filter((x) => x.trim() !== '');

/**
 * Collects the harness's own garbage between phases (it runs with --expose-gc). After the idle
 * memory phase the heap holds thousands of closed clients (XMPP ones especially), and a major GC of
 * that during the next ramp stalled the harness's event loop: p99 over 100 ms at rates where
 * neither the server nor the harness was busy (seen for ejabberd and Kolokol alike).
 */
function settleHarness(): void {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc === 'function') gc();
}

export async function runCompare(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: 'kolokol,ejabberd,prosody,cluster' },
      variants: { type: 'string', default: 'default,durable' },
      sizes: { type: 'string', default: '1000,5000,10000' },
      pairs: { type: 'string', default: '50' },
      rates: { type: 'string', default: DEFAULT_RATES },
      'step-seconds': { type: 'string', default: '10' },
      p99: { type: 'string', default: '100' },
      refine: { type: 'string', default: '1' },
      body: { type: 'string', default: '256' },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' },
      'node-arg': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  // The harness re-runs itself through a shell that raises its open-file limit (10k client
  // sockets) and pins it to its own core, away from the servers' core.
  if (process.env[PINNED_ENV] !== '1') {
    const pin = hasTaskset() ? `taskset -c ${HARNESS_CPU} ` : '';
    const self = [process.execPath, '--expose-gc', process.argv[1] ?? 'bench/run.ts', 'compare', ...argv]
      .map((s) => `'${s.replaceAll("'", `'\\''`)}'`)
      .join(' ');
    const child = spawn('sh', ['-c', `${RAISE_NOFILE} exec ${pin}${self}`], {
      stdio: 'inherit',
      env: { ...process.env, [PINNED_ENV]: '1' },
    });
    // The harness cleans up on SIGINT/SIGTERM (servers, a cluster's schema, temporary folders):
    // a signal sent to this process alone is passed on, and this one waits for it to finish.
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (code !== 0) throw new Error(`harness exited with ${code ?? sig}`);
    return;
  }

  // @xmpp/client writes on a socket that a refused or dropped connection already nulled, in a
  // promise of its own that nothing can catch (@xmpp/connection). One client lost is a failed
  // measurement step, which the ramp reports, not a reason to lose the whole table.
  let lost = 0;
  process.on('unhandledRejection', (reason) => {
    if (lost++ === 0) process.stderr.write(`  (a client failed outside any await: ${String(reason)})\n`);
  });
  // The same library also throws from a socket's data handler once it has nulled its parser (data
  // arriving while 10k clients disconnect). Only that one is swallowed; anything else still ends
  // the run.
  process.on('uncaughtException', (err) => {
    if (!(err instanceof TypeError) || !(err.stack ?? '').includes('@xmpp/connection')) {
      process.stderr.write(`${err.stack ?? String(err)}\n`);
      process.exit(1);
    }
    if (lost++ === 0) process.stderr.write(`  (an XMPP client failed while closing: ${err.message})\n`);
  });

  const targets: TargetName[] = list(values.targets).map((t) => {
    if (!isTargetName(t)) throw new Error(`unknown target ${t}; one of ${TARGETS.join(', ')}`);
    return t;
  });
  const variants = list(values.variants);
  const nodeArgs = values['node-arg'];
  const sizes = list(values.sizes).map(Number);
  const rampOpts: RampOptions = {
    pairs: Number(values.pairs),
    rates: list(values.rates).map(Number),
    stepSeconds: Number(values['step-seconds']),
    bodyBytes: Number(values.body),
    p99LimitMs: Number(values.p99),
    refine: Number(values.refine),
  };

  const xmppWanted = targets.filter((t): t is 'ejabberd' | 'prosody' => t === 'ejabberd' || t === 'prosody');
  const xmppUsable = xmppWanted.length > 0 ? ensureXmppServers(xmppWanted) : [];
  process.stdout.write(`machine: ${machine()}\n`);
  const nofile = Number(tryRun('sh', ['-c', 'ulimit -n'])?.trim());
  if (nofile < Math.max(0, ...sizes) + 1000)
    process.stdout.write(`open-file limit is ${nofile}: too low for ${Math.max(...sizes)} connections\n`);
  process.stdout.write(
    `server on core 0, harness on core ${HARNESS_CPU}${hasTaskset() ? '' : ' (NOT pinned: no taskset)'}; ` +
      `ramp: ${rampOpts.pairs} pairs, ${rampOpts.stepSeconds} s per step, ${rampOpts.bodyBytes}-byte bodies\n`,
  );

  const rows: Row[] = [];
  for (const name of targets) {
    if (name === 'cluster') {
      if (!clusterSupported()) {
        process.stdout.write(
          'cluster row unavailable yet: packages/server/src/main.ts --help has no --bus flag (cluster mode is being built)\n',
        );
        rows.push({
          target: 'Kolokol cluster x3',
          storage: 'unavailable yet (no --bus)',
          memory: [],
          steps: [],
          note: '',
        });
        continue;
      }
      const cluster = { nodes: 3, databaseUrl: values['database-url'], natsUrl: values['nats-url'] };
      rows.push(await measure((o) => kolokolTarget(o, cluster, nodeArgs), false, sizes, rampOpts));
      continue;
    }
    if (name !== 'kolokol' && !xmppUsable.includes(name)) continue;
    for (const variant of variants) {
      const durable = variant === 'durable';
      const make = (o: TargetOptions): Target =>
        name === 'kolokol' ? kolokolTarget(o, undefined, nodeArgs) : xmppTarget(name, o);
      rows.push(await measure(make, durable, sizes, rampOpts));
    }
  }
  process.stdout.write(`\n${table(rows, sizes, rampOpts.p99LimitMs)}\n`);
}
