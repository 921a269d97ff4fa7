/**
 * Calls benchmark: the server as a child process with TLS on (self-signed), two people on the
 * built web app in Chromium (fake camera, a tone as microphone), and the embedded TURN relay under
 * a synthetic load.
 *
 * 1. Call setup time: from the click on `Video call` (or `Voice call`) in the caller's page to the
 *    first decoded video frame (voice: the first audible inbound audio) in the callee's page. Both
 *    timestamps are taken in the pages (performance.timeOrigin + now(): one clock, one machine);
 *    the callee clicks Accept from a MutationObserver as soon as the dialog appears and polls its
 *    own getStats every 20 ms. Two routes: forced through `turns:` on the app's port (strangers,
 *    relay only, the call test hooks keep only that ICE server) and direct (each in the other's
 *    contacts, host candidates on this machine). One warm-up call per route is not counted.
 * 2. Relay throughput per core: pairs of TURN clients (the relay's own test client, over UDP or
 *    over TLS on the app's port) each allocate, permit and channel-bind the other's relayed
 *    address, then send ChannelData both ways, open loop, at a fixed rate. Every packet crosses
 *    the relay twice (client -> relay -> the peer's allocation -> its client), as in a relayed call
 *    where both ends use this server. Packets per core-second = packets delivered per second /
 *    server CPU (utime + stime of the server process over wall time, so 1.0 = one core).
 */

import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { turnCredentials } from '@kolokol/relay';
import { spawnServer } from '@kolokol/testkit';
import type { Browser, Page } from 'playwright-core';
import { addContact, callBrowserArgs, callPerson, configureCalls, writeTone } from '../e2e/call-helpers.ts';
import { chatBetween, gone, launchChromium, openChat, type Person } from '../e2e/helpers.ts';
import { TurnTestClient } from '../packages/relay/test/client.ts';
import { TlsApi } from '../packages/server/test/tls-helpers.ts';
import { ensureWebApp } from '../scripts/webapp.ts';

const CLK_TCK = 100;

/** utime + stime of a process in seconds, from /proc (Linux only). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Datagrams the kernel dropped because a UDP socket's receive buffer was full (machine-wide, from
 * /proc/net/snmp): where UDP loss happens when the relay's event loop falls behind.
 */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp: '));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? Number.NaN);
}

/** Exact percentile of a sorted sample. */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((l) => (l[c] ?? '').length)));
  const fmt = (cells: string[]) => `| ${cells.map((x, c) => x.padStart(widths[c] ?? 0)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(fmt)].join('\n');
}

// --- call setup ---------------------------------------------------------------------------------

/**
 * The few page globals the in-page code touches, typed by hand: benchmarks compile without the DOM
 * library (their tsconfig is Node's), and these functions run in Chromium, not here.
 */
interface Clickable {
  textContent: string | null;
  click(): void;
}
interface PageGlobals {
  document: {
    body: unknown;
    querySelector(selector: string): Clickable | null;
    querySelectorAll(selector: string): Iterable<Clickable>;
  };
  MutationObserver: new (
    callback: () => void,
  ) => { observe(target: unknown, o: { childList: boolean; subtree: boolean }): void; disconnect(): void };
  __kolokolCalls?: { stats(): Promise<Record<string, unknown>[]> };
  __benchCall?: { acceptAt: number; firstAt: number; error: string };
}

interface Sample {
  /** click -> the callee's Accept clicked (the offer has arrived and rings) */
  ring: number;
  /** click -> the first decoded frame at the callee */
  setup: number;
}

/** Arms the callee: accept as soon as the dialog shows, then watch for the first decoded media. */
function armCallee(page: Page, video: boolean): Promise<void> {
  return page.evaluate((video) => {
    const g = globalThis as unknown as PageGlobals;
    const now = () => performance.timeOrigin + performance.now();
    const state = { acceptAt: 0, firstAt: 0, error: '' };
    g.__benchCall = state;
    const accept = (): boolean => {
      for (const b of g.document.querySelectorAll('[role="alertdialog"] button'))
        if (b.textContent?.trim() === 'Accept') {
          state.acceptAt = now();
          b.click();
          return true;
        }
      return false;
    };
    if (!accept()) {
      const observer = new g.MutationObserver(() => {
        if (accept()) observer.disconnect();
      });
      observer.observe(g.document.body, { childList: true, subtree: true });
    }
    const poll = async () => {
      try {
        const all = (await g.__kolokolCalls?.stats()) ?? [];
        const inbound = all.find((s) => s.type === 'inbound-rtp' && s.kind === (video ? 'video' : 'audio'));
        const value = inbound?.[video ? 'framesDecoded' : 'audioLevel'];
        if (typeof value === 'number' && value > 0) {
          state.firstAt = now();
          return;
        }
      } catch (e) {
        state.error = String(e);
      }
      setTimeout(() => void poll(), 20);
    };
    void poll();
  }, video);
}

/** Clicks the call button in the page and returns when it did, on the page's clock. */
function clickCall(page: Page, video: boolean): Promise<number> {
  return page.evaluate((video) => {
    const g = globalThis as unknown as PageGlobals;
    const button = g.document.querySelector(`button[aria-label="${video ? 'Video call' : 'Voice call'}"]`);
    if (button === null) throw new Error('no call button');
    const at = performance.timeOrigin + performance.now();
    button.click();
    return at;
  }, video);
}

async function oneCall(caller: Person, callee: Person, video: boolean): Promise<Sample> {
  await armCallee(callee.page, video);
  const clickAt = await clickCall(caller.page, video);
  await callee.page.waitForFunction(
    () => ((globalThis as unknown as PageGlobals).__benchCall?.firstAt ?? 0) > 0,
    undefined,
    { timeout: 30_000, polling: 50 },
  );
  const r = await callee.page.evaluate(() => (globalThis as unknown as PageGlobals).__benchCall);
  if (r === undefined) throw new Error('the callee lost its watcher');
  await caller.page.getByRole('button', { name: 'Hang up' }).click();
  await gone(caller.page.locator('.call-panel'), 15_000);
  await gone(callee.page.locator('.call-panel'), 30_000);
  return { ring: r.acceptAt - clickAt, setup: r.firstAt - clickAt };
}

interface SetupRow {
  route: string;
  samples: Sample[];
  failed: number;
}

async function measureRoute(
  route: string,
  caller: Person,
  callee: Person,
  calls: number,
  video: boolean,
): Promise<SetupRow> {
  const samples: Sample[] = [];
  let failed = 0;
  for (let i = 0; i <= calls; i++) {
    try {
      const s = await oneCall(caller, callee, video);
      // The first call warms up the route (TURN allocation paths, codecs, JIT) and is not counted.
      if (i > 0) samples.push(s);
      process.stderr.write(i === 0 ? 'w' : '.');
    } catch (e) {
      failed++;
      process.stderr.write(
        `\n  ${route} call ${i} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`,
      );
      // Leave no call behind for the next attempt.
      for (const p of [caller, callee]) {
        const hangup = p.page.getByRole('button', { name: 'Hang up' });
        if (await hangup.isVisible().catch(() => false)) await hangup.click().catch(() => undefined);
        const decline = p.page.getByRole('button', { name: 'Decline' });
        if (await decline.isVisible().catch(() => false)) await decline.click().catch(() => undefined);
      }
      await sleep(2000);
    }
    await sleep(300);
  }
  process.stderr.write('\n');
  return { route, samples, failed };
}

// --- relay load ---------------------------------------------------------------------------------

interface RelayRow {
  transport: 'udp' | 'tls';
  flows: number;
  seconds: number;
  offered: number;
  delivered: number;
  relayOut: number;
  dropped: number;
  kernelDrops: number;
  cpu: number;
  driverCpu: number;
}

const CHANNEL = 0x4000;

async function metric(api: TlsApi, name: string): Promise<number> {
  const text = String((await api.req('GET', '/metrics')).body);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm')))
    sum += Number(m[1]);
  return sum;
}

async function relayLoad(o: {
  transport: 'udp' | 'tls';
  flows: number;
  pps: number;
  payload: number;
  seconds: number;
  pid: number;
  appPort: number;
  udpPort: number;
  secret: string;
  api: TlsApi;
  ca: string;
}): Promise<RelayRow> {
  const open = async (): Promise<TurnTestClient> => {
    if (o.transport === 'udp') return TurnTestClient.udp(o.udpPort);
    const socket = tlsConnect({ host: '127.0.0.1', port: o.appPort, ca: o.ca });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return TurnTestClient.overStream(socket);
  };
  const clients: TurnTestClient[] = [];
  try {
    const relayed = [];
    for (let i = 0; i < o.flows * 2; i++) {
      const c = await open();
      clients.push(c);
      const r = await c.allocate(turnCredentials(o.secret, `bench-${o.transport}-${i}`, 3600));
      if (r.code !== 0 || r.relayed === undefined) throw new Error(`allocate: ${r.code}`);
      relayed.push(r.relayed);
    }
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i];
      const peer = relayed[i ^ 1];
      if (c === undefined || peer === undefined) throw new Error('pairing');
      if ((await c.createPermission(peer)).code !== 0) throw new Error('permission refused');
      if ((await c.channelBind(CHANNEL, peer)).code !== 0) throw new Error('channel bind refused');
    }
    const payload = Buffer.alloc(o.payload, 0x5a);
    let delivered = 0;
    const drain = setInterval(() => {
      for (const c of clients) {
        delivered += c.received.length;
        c.received.length = 0;
      }
    }, 50);
    const count = () => {
      for (const c of clients) {
        delivered += c.received.length;
        c.received.length = 0;
      }
      return delivered;
    };
    // Open loop: send i of each client is due at start + i / pps, whatever the relay does.
    const start = performance.now();
    const warmupMs = 1000;
    const endMs = warmupMs + o.seconds * 1000;
    let sent = 0;
    let measuring:
      | { t: number; delivered: number; cpu: number; relayOut: number; dropped: number; kernel: number }
      | undefined;
    let driver0 = process.cpuUsage();
    for (;;) {
      const elapsed = performance.now() - start;
      if (measuring === undefined && elapsed >= warmupMs) {
        measuring = {
          t: performance.now(),
          delivered: count(),
          cpu: cpuSeconds(o.pid),
          relayOut: await metric(o.api, 'kolokol_turn_packets_total'),
          dropped: await metric(o.api, 'kolokol_turn_dropped_total'),
          kernel: udpRcvbufErrors(),
        };
        driver0 = process.cpuUsage();
      }
      if (elapsed >= endMs) break;
      const due = Math.floor((elapsed * o.pps) / 1000);
      for (; sent < due; sent++) for (const c of clients) c.sendChannelData(CHANNEL, payload);
      await sleep(1);
    }
    if (measuring === undefined) throw new Error('no measurement window');
    const wall = (performance.now() - measuring.t) / 1000;
    const cpu = (cpuSeconds(o.pid) - measuring.cpu) / wall;
    const d = process.cpuUsage(driver0);
    const got = count() - measuring.delivered;
    // The relay's own counters see each delivered packet four times (two hops, in and out).
    const relayOut = (await metric(o.api, 'kolokol_turn_packets_total')) - measuring.relayOut;
    const dropped = (await metric(o.api, 'kolokol_turn_dropped_total')) - measuring.dropped;
    const kernelDrops = udpRcvbufErrors() - measuring.kernel;
    clearInterval(drain);
    return {
      transport: o.transport,
      flows: o.flows,
      seconds: Math.round(wall * 10) / 10,
      offered: o.pps * clients.length,
      delivered: got / wall,
      relayOut: relayOut / wall,
      dropped,
      kernelDrops,
      cpu,
      driverCpu: (d.user + d.system) / 1e6 / wall,
    };
  } finally {
    for (const c of clients) c.close();
  }
}

// --- the run ------------------------------------------------------------------------------------

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function runCalls(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '20' },
      media: { type: 'string', default: 'video' },
      routes: { type: 'string', default: 'turns,direct' },
      flows: { type: 'string', default: '8' },
      pps: { type: 'string', default: '1000' },
      payload: { type: 'string', default: '200' },
      'relay-seconds': { type: 'string', default: '10' },
      'relay-transports': { type: 'string', default: 'udp,tls' },
      'server-arg': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'npm run bench -- calls [--calls 20] [--media video|voice] [--routes turns,direct] [--flows 8] [--pps 1000]\n' +
        '                       [--payload 200] [--relay-seconds 10] [--relay-transports udp,tls] [--server-arg FLAG]...\n' +
        '  --calls 0 skips the call setup part, --relay-seconds 0 the relay load\n' +
        '  --pps is per TURN client and direction: offered load = 2 x flows x pps packets/s\n',
    );
    return;
  }
  const calls = Number(values.calls);
  const video = values.media !== 'voice';
  const routes = values.routes.split(',').filter((r) => r === 'turns' || r === 'direct');
  const relaySeconds = Number(values['relay-seconds']);
  const transports = values['relay-transports']
    .split(',')
    .filter((t): t is 'udp' | 'tls' => t === 'udp' || t === 'tls');

  ensureWebApp();
  const secret = `bench-secret-${Math.random().toString(36).slice(2)}-0123456789`;
  const udpPort = await freeUdpPort();
  const server = await spawnServer({
    entry: fileURLToPath(new URL('./server.ts', import.meta.url)),
    args: [
      '--tls',
      'on',
      '--turn-udp-port',
      String(udpPort),
      '--turn-secret',
      secret,
      ...values['server-arg'],
    ],
    env: { KOLOKOL_LOG_LEVEL: 'warn' },
  });
  const pid = server.pid;
  if (pid === undefined) throw new Error('no server pid');
  const ca = readFileSync(join(server.dataDir, 'tls', 'self-signed.crt'), 'utf8');
  // The listening line names plain http:// when the port serves both (self-signed); /metrics is read
  // over TLS, trusting exactly the server's certificate.
  const api = new TlsApi(`https://127.0.0.1:${server.port}`, ca);
  const scratch = mkdtempSync(join(tmpdir(), 'kolokol-bench-calls-'));
  let browser: Browser | undefined;
  const setupRows: SetupRow[] = [];
  const relayRows: RelayRow[] = [];
  try {
    if (calls > 0 && routes.length > 0) {
      const tone = join(scratch, 'tone.wav');
      writeTone(tone, 10);
      // Chromium's TURN client refuses the self-signed certificate otherwise (pages load from
      // server.url, plain http:// on loopback when the port serves both, else https://).
      browser = await launchChromium([...callBrowserArgs(tone), '--ignore-certificate-errors']);
      process.stderr.write(`calls bench: server ${server.url}, ${calls} calls per route\n  signing up...`);
      const alice = await callPerson(browser, server.url, 'alice', 'Alice');
      const bob = await callPerson(browser, server.url, 'bob', 'Bob');
      await chatBetween(alice, bob, 'bench');
      process.stderr.write(' ok\n');
      // Strangers first: adding contacts is one-way in this UI and cannot be undone quietly.
      if (routes.includes('turns')) {
        await configureCalls(alice.page, { iceOnly: 'turns' });
        await configureCalls(bob.page, { iceOnly: 'turns' });
        process.stderr.write('  turns: ');
        setupRows.push(await measureRoute('turns: (TLS relay, app port)', alice, bob, calls, video));
        await configureCalls(alice.page, { iceOnly: null });
        await configureCalls(bob.page, { iceOnly: null });
      }
      if (routes.includes('direct')) {
        await addContact(alice, 'bob');
        await addContact(bob, 'alice');
        await openChat(alice, /bob/i);
        await openChat(bob, /alice/i);
        process.stderr.write('  direct: ');
        setupRows.push(await measureRoute('direct (contacts)', alice, bob, calls, video));
      }
      await browser.close();
      browser = undefined;
    }
    if (relaySeconds > 0) {
      for (const transport of transports) {
        process.stderr.write(`  relay load over ${transport}...\n`);
        relayRows.push(
          await relayLoad({
            transport,
            flows: Number(values.flows),
            pps: Number(values.pps),
            payload: Number(values.payload),
            seconds: relaySeconds,
            pid,
            appPort: server.port,
            udpPort,
            secret,
            api,
            ca,
          }),
        );
      }
    }
  } finally {
    await browser?.close();
    await server.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  if (setupRows.length > 0) {
    process.stdout.write(
      `\nCall setup, ${video ? 'Video call click -> first decoded frame' : 'Voice call click -> first audible audio'} at the callee (ms)\n\n`,
    );
    process.stdout.write(
      `${table(
        ['route', 'calls', 'failed', 'ring p50', 'setup p50', 'setup p95', 'setup max'],
        setupRows.map((r) => {
          const setup = r.samples.map((s) => s.setup).sort((a, b) => a - b);
          const ring = r.samples.map((s) => s.ring).sort((a, b) => a - b);
          return [
            r.route,
            String(r.samples.length),
            String(r.failed),
            ms(pct(ring, 50)),
            ms(pct(setup, 50)),
            ms(pct(setup, 95)),
            ms(setup.at(-1) ?? Number.NaN),
          ];
        }),
      )}\n`,
    );
  }
  if (relayRows.length > 0) {
    process.stdout.write(`\nTURN relay under load (${values.payload}-byte ChannelData payloads)\n\n`);
    process.stdout.write(
      `${table(
        [
          'client transport',
          'flows',
          'secs',
          'offered pkt/s',
          'delivered pkt/s',
          'loss %',
          'relay dropped',
          'kernel UDP drops',
          'relay in+out pkt/s',
          'srv CPU %',
          'delivered pkt per core-s',
          'driver CPU %',
        ],
        relayRows.map((r) => [
          r.transport,
          String(r.flows),
          String(r.seconds),
          r.offered.toFixed(0),
          r.delivered.toFixed(0),
          (Math.max(0, 1 - r.delivered / r.offered) * 100).toFixed(1),
          String(r.dropped),
          String(r.kernelDrops),
          r.relayOut.toFixed(0),
          (r.cpu * 100).toFixed(0),
          r.cpu > 0 ? (r.delivered / r.cpu).toFixed(0) : '-',
          (r.driverCpu * 100).toFixed(0),
        ]),
      )}\n`,
    );
  }
}
