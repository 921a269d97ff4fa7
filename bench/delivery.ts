/**
 * Delivery benchmark: the server as a child process, N raw protocol clients in pairs, each pair
 * sharing a group created up front. Bodies are opaque random bytes, not MLS ciphertexts: this
 * measures the server (ordering, durable mailbox writes, fan-out, push), not client crypto.
 *
 * Load is open-loop: send i is scheduled at t0 + i/rate and its latency counts from that scheduled
 * time, so a stalled server (or a stalled driver) shows up as latency instead of silently lowering
 * the offered load (no coordinated omission).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  opaqueBody,
  type RawSocket,
  type RawUser,
  randomId,
  rawGroup,
  rawUser,
  RawSocket as Socket,
  spawnServer,
  waitFor,
} from '@kolokol/testkit';

interface Row {
  clients: number;
  rate: number;
  seconds: number;
  sent: number;
  acked: number;
  delivered: number;
  duplicates: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  ackP50: number;
  ackP99: number;
  cpu: number;
  rssMb: number;
  driverCpu: number;
}

/** Exact percentile of a sorted sample (we keep every sample: at most a few hundred thousand). */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

const CLK_TCK = 100;

/** utime + stime of a process in seconds, from /proc (Linux only). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? Number.NaN : Number(m[1]) / 1024;
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((t, j) => fn(t, i + j)))));
  }
  return out;
}

async function runOne(
  n: number,
  rate: number,
  seconds: number,
  bodyBytes: number,
  serverArgs: string[],
): Promise<Row> {
  if (n % 2 !== 0) throw new Error('--clients must be even (clients talk in pairs)');
  const server = await spawnServer({
    entry: fileURLToPath(new URL('./server.ts', import.meta.url)),
    args: serverArgs,
    env: { KOLOKOL_LOG_LEVEL: 'warn' },
  });
  const pid = server.pid;
  if (pid === undefined) throw new Error('no server pid');
  const sockets: RawSocket[] = [];
  try {
    process.stderr.write(`  N=${n}: registering...`);
    const run = randomId()
      .slice(0, 6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x');
    const users: RawUser[] = await inBatches(
      Array.from({ length: n }, (_, i) => i),
      16,
      (i) => rawUser(server.url, `b${run}_${i}`),
    );
    process.stderr.write(' connecting...');
    sockets.push(...(await inBatches(users, 50, (u) => Socket.connect(server.url, u.token, 30_000))));
    process.stderr.write(' groups...');
    const groups: string[] = [];
    const epochs: number[] = [];
    await inBatches(
      Array.from({ length: n / 2 }, (_, k) => k),
      25,
      async (k) => {
        const owner = users[2 * k];
        const peer = users[2 * k + 1];
        const sock = sockets[2 * k];
        if (owner === undefined || peer === undefined || sock === undefined) throw new Error('pairing');
        const g = await rawGroup(owner, sock, [peer]);
        groups[k] = g.groupId;
        epochs[k] = g.epoch;
      },
    );
    // Drain the setup traffic (welcomes) so it does not count.
    await waitFor(() => sockets.every((s, i) => i % 2 === 0 || s.items.length > 0), 60_000, {
      what: 'welcomes',
    });
    for (const s of sockets) {
      s.ack(s.items.map((it) => it.id));
      s.items.length = 0;
    }
    process.stderr.write(' running\n');

    const scheduled = new Map<string, number>();
    const latencies: number[] = [];
    const ackLatencies: number[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    let acked = 0;
    for (const s of sockets) {
      s.onItems = (items) => {
        const now = performance.now();
        for (const it of items) {
          const at = scheduled.get(it.msgId);
          if (at === undefined) continue;
          if (seen.has(it.msgId)) {
            duplicates++;
            continue;
          }
          seen.add(it.msgId);
          latencies.push(now - at);
        }
        s.ack(items.map((it) => it.id));
        s.items.length = 0;
        s.frames.length = 0;
      };
    }

    let peakRss = rssMb(pid);
    const rssTimer = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssMb(pid));
      } catch {
        // the process may be gone at the very end
      }
    }, 250);
    const cpu0 = cpuSeconds(pid);
    const driver0 = process.cpuUsage();
    const t0 = performance.now() + 200;
    const total = Math.round(rate * seconds);
    let i = 0;
    while (i < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
      for (; i < due; i++) {
        const client = i % n;
        const sock = sockets[client];
        const groupId = groups[Math.floor(client / 2)];
        const epoch = epochs[Math.floor(client / 2)];
        if (sock === undefined || groupId === undefined || epoch === undefined) throw new Error('index');
        const msgId = randomId();
        const at = t0 + (i * 1000) / rate;
        scheduled.set(msgId, at);
        sock
          .send({ msgId, groupId, kind: 'application', epoch, body: opaqueBody(bodyBytes) }, 60_000)
          .then((r) => {
            if (r.t === 'ok') {
              acked++;
              ackLatencies.push(performance.now() - at);
            }
          })
          .catch(() => undefined);
      }
      await sleep(1);
    }
    const sendEnd = performance.now();
    await waitFor(() => seen.size >= total && acked >= total, 15_000).catch(() => undefined);
    const wall = (performance.now() - t0) / 1000;
    const cpu = ((cpuSeconds(pid) - cpu0) / wall) * 100;
    const d = process.cpuUsage(driver0);
    const driverCpu = ((d.user + d.system) / 1e6 / wall) * 100;
    clearInterval(rssTimer);
    latencies.sort((a, b) => a - b);
    ackLatencies.sort((a, b) => a - b);
    return {
      clients: n,
      rate,
      seconds: Math.round((sendEnd - t0) / 100) / 10,
      sent: total,
      acked,
      delivered: seen.size,
      duplicates,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      p999: pct(latencies, 99.9),
      max: latencies.at(-1) ?? Number.NaN,
      ackP50: pct(ackLatencies, 50),
      ackP99: pct(ackLatencies, 99),
      cpu,
      rssMb: peakRss,
      driverCpu,
    };
  } finally {
    for (const s of sockets) s.close();
    await server.close();
  }
}

function table(rows: Row[]): string {
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const head = [
    'N',
    'rate/s',
    'secs',
    'delivered/sent',
    'acked',
    'dup',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    'ack p50',
    'ack p99',
    'srv CPU%',
    'srv RSS MB',
    'driver CPU%',
  ];
  const lines = rows.map((r) => [
    String(r.clients),
    String(r.rate),
    String(r.seconds),
    `${r.delivered}/${r.sent}`,
    String(r.acked),
    String(r.duplicates),
    ms(r.p50),
    ms(r.p99),
    ms(r.p999),
    ms(r.max),
    ms(r.ackP50),
    ms(r.ackP99),
    r.cpu.toFixed(0),
    r.rssMb.toFixed(0),
    r.driverCpu.toFixed(0),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? '').length)));
  const fmt = (cells: string[]) => `| ${cells.map((x, c) => x.padStart(widths[c] ?? 0)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

export async function runDelivery(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '100,1000' },
      rate: { type: 'string', default: '500,1000' },
      duration: { type: 'string', default: '20' },
      body: { type: 'string', default: '256' },
      'server-arg': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'npm run bench -- delivery [--clients 100,1000] [--rate 500,1000] [--duration 20] [--body 256] [--server-arg FLAG]...\n' +
        '  --rate is the total offered load in messages/s, one per --clients entry (the last one repeats)\n',
    );
    return;
  }
  const clients = values.clients.split(',').map(Number);
  const rates = values.rate.split(',').map(Number);
  const seconds = Number(values.duration);
  const bodyBytes = Number(values.body);
  const rows: Row[] = [];
  process.stderr.write(`delivery bench: ${seconds} s per run, ${bodyBytes}-byte opaque bodies\n`);
  for (const [k, n] of clients.entries()) {
    const rate = rates[k] ?? rates.at(-1) ?? 500;
    rows.push(await runOne(n, rate, seconds, bodyBytes, values['server-arg']));
  }
  process.stdout.write(`${table(rows)}\n`);
}
