/**
 * The two measurements, the same code for every target.
 *
 * Idle memory: register the accounts first (so registration's own garbage is in the baseline),
 * read the server's RSS, connect clients up to each size, let the server settle, read RSS again:
 * (RSS - baseline) / N. One server for all sizes, connected in ascending order.
 *
 * Delivery ramp: `pairs` pairs of connected clients; at each offered rate, send i is scheduled at
 * t0 + i / rate (round-robin over the clients, each to its partner) and its latency counts from
 * that scheduled time to the partner's receipt, so a server (or harness) that stalls shows the
 * stall as latency instead of quietly lowering the offered rate (no coordinated omission).
 * Latencies go into an HDR histogram (microseconds, 3 significant digits). A step passes when
 * every message arrived and p99 <= the limit; the ramp stops at the first step that fails, then
 * tries the midpoint between the last pass and that failure.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomId } from '@kolokol/testkit';
import { build, type Histogram } from 'hdr-histogram-js';
import { treeCpu, treeRss } from './proc.ts';
import type { BenchClient, Peer, Target } from './target.ts';

export interface MemoryPoint {
  n: number;
  bytesPerConn: number;
  baselineMb: number;
  rssMb: number;
}

export interface Step {
  rate: number;
  sent: number;
  delivered: number;
  errors: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  serverCpu: number;
  harnessCpu: number;
  pass: boolean;
}

async function inBatches(
  count: number,
  size: number,
  fn: (i: number) => Promise<void>,
  from = 0,
): Promise<void> {
  for (let i = from; i < count; i += size) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + size); j++) batch.push(fn(j));
    await Promise.all(batch);
  }
}

const progress = (s: string) => process.stderr.write(s);

/** RSS once it stops moving (within 1% over a second), or after 15 s. */
async function settledRss(target: Target): Promise<number> {
  let last = treeRss(target.pids());
  for (let k = 0; k < 15; k++) {
    await sleep(1000);
    const now = treeRss(target.pids());
    if (Math.abs(now - last) <= last * 0.01) return now;
    last = now;
  }
  return last;
}

export async function idleMemory(target: Target, sizes: number[]): Promise<MemoryPoint[]> {
  const max = Math.max(...sizes);
  const clients: BenchClient[] = [];
  const out: MemoryPoint[] = [];
  try {
    progress(`    registering ${max} accounts...`);
    await inBatches(max, 32, (i) => target.register(i));
    const baseline = await settledRss(target);
    for (const n of [...sizes].sort((a, b) => a - b)) {
      progress(` connect ${n}...`);
      const from = clients.length;
      await inBatches(
        n,
        64,
        async (i) => {
          clients[i] = await target.connect(i, () => undefined);
        },
        from,
      );
      const rss = await settledRss(target);
      out.push({
        n,
        bytesPerConn: (rss - baseline) / n,
        baselineMb: baseline / 2 ** 20,
        rssMb: rss / 2 ** 20,
      });
      // Said as it is measured, so that a run cut short still leaves its figures in the log.
      progress(
        ` ${((rss - baseline) / n / 1024).toFixed(1)} KB/conn (RSS ${(rss / 2 ** 20).toFixed(0)} MB);`,
      );
    }
    progress(' done\n');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return out;
}

export interface RampOptions {
  pairs: number;
  rates: number[];
  stepSeconds: number;
  bodyBytes: number;
  p99LimitMs: number;
  /** Midpoint steps after the first failure. */
  refine: number;
}

interface Link {
  from: BenchClient;
  to: Peer;
}

export async function ramp(target: Target, opts: RampOptions): Promise<Step[]> {
  const n = opts.pairs * 2;
  const clients: BenchClient[] = [];
  const links: Link[] = [];
  // id -> scheduled send time; an entry leaves when the message arrives.
  const pending = new Map<string, number>();
  let hist: Histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  let delivered = 0;
  const onMessage = (id: string) => {
    const at = pending.get(id);
    if (at === undefined) return;
    pending.delete(id);
    delivered++;
    hist.recordValue(Math.max(1, Math.round((performance.now() - at) * 1000)));
  };
  const steps: Step[] = [];
  try {
    progress(`    ${n} clients: registering...`);
    await inBatches(n, 32, (i) => target.register(i));
    progress(' connecting...');
    await inBatches(n, 64, async (i) => {
      clients[i] = await target.connect(i, onMessage);
    });
    progress(' pairing...');
    await inBatches(opts.pairs, 16, async (k) => {
      const a = clients[2 * k];
      const b = clients[2 * k + 1];
      if (a === undefined || b === undefined) throw new Error('pairing');
      const [toB, toA] = await target.pair(a, b, 2 * k, 2 * k + 1);
      links[2 * k] = { from: a, to: toB };
      links[2 * k + 1] = { from: b, to: toA };
    });
    progress('\n');
    // Bodies are the same random base64url text for every message of a run: the servers never
    // look inside, and making them would only cost the harness.
    const body = randomBody(opts.bodyBytes);

    const runStep = async (rate: number): Promise<Step> => {
      pending.clear();
      hist = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
      delivered = 0;
      const errors0 = clients.reduce((s, c) => s + c.errors(), 0);
      const total = Math.max(1, Math.round(rate * opts.stepSeconds));
      const cpu0 = treeCpu(target.pids());
      const h0 = process.cpuUsage();
      const w0 = performance.now();
      const t0 = w0 + 100;
      let i = 0;
      while (i < total) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
        for (; i < due; i++) {
          const link = links[i % n];
          if (link === undefined) throw new Error('link');
          const id = randomId();
          pending.set(id, t0 + (i * 1000) / rate);
          link.from.send(link.to, id, body);
        }
        await sleep(1);
      }
      // Whatever has not arrived a few seconds after the last send has blown the p99 anyway.
      const deadline = performance.now() + Math.max(3000, opts.p99LimitMs * 20);
      while (delivered < total && performance.now() < deadline) await sleep(20);
      const wall = (performance.now() - w0) / 1000;
      const h = process.cpuUsage(h0);
      const serverCpu = ((treeCpu(target.pids()) - cpu0) / wall) * 100;
      const ms = (p: number) => (hist.totalCount === 0 ? Number.NaN : hist.getValueAtPercentile(p) / 1000);
      const p99 = ms(99);
      const step: Step = {
        rate,
        sent: total,
        delivered,
        errors: clients.reduce((s, c) => s + c.errors(), 0) - errors0,
        p50: ms(50),
        p99,
        p999: ms(99.9),
        max: hist.totalCount === 0 ? Number.NaN : hist.maxValue / 1000,
        serverCpu,
        harnessCpu: ((h.user + h.system) / 1e6 / wall) * 100,
        pass: delivered === total && p99 <= opts.p99LimitMs,
      };
      progress(
        `    ${String(rate).padStart(6)}/s: ${delivered}/${total} delivered, p50 ${step.p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
          `server ${serverCpu.toFixed(0)}% CPU, harness ${step.harnessCpu.toFixed(0)}% ${step.pass ? 'pass' : 'FAIL'}\n`,
      );
      // Let a backlog drain before the next step so it starts from a quiet server.
      const drain = performance.now() + 30_000;
      while (pending.size > 0 && performance.now() < drain) await sleep(50);
      await sleep(500);
      return step;
    };

    let lastPass: number | undefined;
    let firstFail: number | undefined;
    for (const rate of opts.rates) {
      const s = await runStep(rate);
      steps.push(s);
      if (s.pass) lastPass = rate;
      else {
        firstFail = rate;
        break;
      }
    }
    for (let k = 0; k < opts.refine && firstFail !== undefined; k++) {
      const lo = lastPass ?? 0;
      const mid = Math.round((lo + firstFail) / 2);
      if (mid <= lo || mid >= firstFail || firstFail - lo < Math.max(50, lo * 0.1)) break;
      const s = await runStep(mid);
      steps.push(s);
      if (s.pass) lastPass = mid;
      else firstFail = mid;
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return steps;
}

function randomBody(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url');
}

/** The highest passing rate, and the step that says why the next one did not pass. */
export function summarize(steps: Step[]): { best: Step | undefined; limit: Step | undefined } {
  const passed = steps.filter((s) => s.pass).sort((a, b) => b.rate - a.rate);
  const best = passed[0];
  const failed = steps
    .filter((s) => !s.pass && (best === undefined || s.rate > best.rate))
    .sort((a, b) => a.rate - b.rate);
  return { best, limit: failed[0] };
}
