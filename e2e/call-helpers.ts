/**
 * Shared by the call tests (calls*.test.ts, consent.test.ts) and the calls benchmark: people on
 * the web app with the call test hooks on, a generated tone as the fake microphone, and assertions
 * on the page's own getStats. The hooks exist only when localStorage `kolokol:test-hooks` is '1'
 * (apps/web/src/calls.ts, CallTestHooks).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser, Page } from 'playwright-core';
import { ensureWebApp } from '../scripts/webapp.ts';
import { launchChromium, type Person, visible } from './helpers.ts';

/** A mono 16-bit PCM WAV of a sine tone: the fake microphone (`--use-file-for-fake-audio-capture`). */
export function writeTone(path: string, seconds = 5, hz = 440, rate = 48_000): void {
  const samples = seconds * rate;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++)
    buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12_000), 44 + i * 2);
  writeFileSync(path, buf);
}

/** Chromium flags for calls: the tone file as microphone, and remote audio that plays unprompted. */
export function callBrowserArgs(tone: string): string[] {
  return [`--use-file-for-fake-audio-capture=${tone}`, '--autoplay-policy=no-user-gesture-required'];
}

/**
 * A person in a new context of `browser` with camera and microphone allowed and the call test hooks
 * on; signs up when `displayName` is not empty (empty: the page stays on the welcome screen, e.g.
 * to link a device).
 */
export async function callPerson(
  browser: Browser,
  url: string,
  username: string,
  displayName: string,
  /** 'allow' installs the app's service worker (its offline shell), as a returning user has it. */
  serviceWorkers: 'allow' | 'block' = 'block',
): Promise<Person> {
  const context = await browser.newContext({
    locale: 'en-US',
    viewport: { width: 1200, height: 800 },
    serviceWorkers,
  });
  await context.grantPermissions(['camera', 'microphone']);
  await context.addInitScript(() => localStorage.setItem('kolokol:test-hooks', '1'));
  const page = await context.newPage();
  if (process.env.KOLOKOL_TRACE === '1')
    page.on('console', (m) => console.error(`[${username}] ${m.text()}`));
  page.on('pageerror', (e) => console.error(`[page error ${username}] ${e.message}`));
  await page.goto(`${url}/`);
  if (displayName !== '') {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Display name').fill(displayName);
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
  }
  return { username, context, page };
}

/** Adds `username` to `p`'s contacts on the Contacts page, then returns to the chat list. */
export async function addContact(p: Person, username: string): Promise<void> {
  await p.page.getByRole('button', { name: 'Contacts' }).first().click();
  const page = p.page.getByRole('region', { name: 'Contacts' });
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Add contact' }).click();
  await visible(
    page
      .getByRole('list', { name: 'Contacts' })
      .getByRole('listitem')
      .filter({ hasText: `@${username}` }),
  );
  await page.getByRole('button', { name: 'Back' }).click();
}

export type Stat = Record<string, unknown>;

export function stats(page: Page): Promise<Stat[]> {
  return page.evaluate(() => {
    const hooks = (globalThis as { __kolokolCalls?: { stats(): Promise<Record<string, unknown>[]> } })
      .__kolokolCalls;
    if (hooks === undefined) throw new Error('no call test hooks');
    return hooks.stats();
  });
}

export function callState(page: Page): Promise<string | undefined> {
  return page.evaluate(() =>
    (globalThis as { __kolokolCalls?: { state(): string | undefined } }).__kolokolCalls?.state(),
  );
}

/** The hooks' configure(): SDK call timeouts, and `iceOnly` to force one route (see CallTestHooks). */
export interface CallTestConfig {
  ringTimeoutMs?: number;
  connectTimeoutMs?: number;
  iceOnly?:
    | 'turns'
    | 'turn-udp'
    | 'turn-tcp'
    | 'stun'
    | ('turns' | 'turn-udp' | 'turn-tcp' | 'stun')[]
    | null;
}

export function configureCalls(page: Page, o: CallTestConfig): Promise<void> {
  return page.evaluate((opts) => {
    const hooks = (globalThis as { __kolokolCalls?: { configure(o: unknown): void } }).__kolokolCalls;
    if (hooks === undefined) throw new Error('no call test hooks');
    hooks.configure(opts);
  }, o);
}

export const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export function selectedPair(all: Stat[]): Stat | undefined {
  const transport = all.find((s) => s.type === 'transport');
  return all.find((s) => s.id === transport?.selectedCandidatePairId);
}

export function inbound(all: Stat[], kind: 'audio' | 'video'): Stat | undefined {
  return all.find((s) => s.type === 'inbound-rtp' && s.kind === kind);
}

/**
 * Cleanup after a test: whoever still shows a call hangs up (with `decline`, a ringing one declines
 * too). Hanging up on one side ends the call on the other, whose button may vanish under the
 * click: a click that finds no button gives up after 2 s, not Playwright's 30 s.
 */
export async function endCalls(
  people: readonly (Person | undefined)[],
  { decline = false }: { decline?: boolean } = {},
): Promise<void> {
  for (const p of people) {
    for (const name of decline ? ['Hang up', 'Decline'] : ['Hang up']) {
      const button = p?.page.getByRole('button', { name });
      if (button !== undefined && (await button.count()) > 0)
        await button
          .first()
          .click({ timeout: 2000 })
          .catch(() => {});
    }
  }
}

export async function waitFor(what: string, fn: () => Promise<boolean>, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

export interface ExpectedRoute {
  video: boolean;
  /** 'relay': our local end of the selected pair is a TURN relay; 'direct': host or srflx. */
  route: 'relay' | 'direct';
  /** For 'relay': the transport to the TURN server that the local relay candidate must use. */
  relayProtocol?: 'udp' | 'tcp' | 'tls';
}

/**
 * The media assertions of one side: a succeeded pair on the expected route, inbound bytes and
 * packets growing, an audible tone, and for video calls decoded frames that keep coming; the
 * "Connection details" panel agrees. Returns the selected pair's two candidates.
 */
export async function assertMediaFlows(
  page: Page,
  expected: ExpectedRoute,
): Promise<{ local: Stat | undefined; remote: Stat | undefined }> {
  const { video } = expected;
  await waitFor('a connected call', async () => (await callState(page)) === 'connected');
  // Audio level is reported once playout has started: sample until it shows.
  let first: Stat[] = [];
  await waitFor('inbound audio with a level', async () => {
    first = await stats(page);
    return num(inbound(first, 'audio')?.audioLevel) > 0 && num(inbound(first, 'audio')?.packetsReceived) > 0;
  });
  await new Promise((r) => setTimeout(r, 2000));
  const second = await stats(page);
  // Chromium reports the selected pair as `in-progress` while a consent check on it is pending,
  // bytes flowing or not: poll until it reads `succeeded` rather than sampling once.
  let pair = selectedPair(second);
  let now = second;
  await waitFor('the selected candidate pair to read succeeded', async () => {
    now = await stats(page);
    pair = selectedPair(now);
    return pair?.state === 'succeeded';
  });
  assert.equal(pair?.state, 'succeeded', JSON.stringify(pair));
  const local = now.find((s) => s.id === pair?.localCandidateId);
  const remote = now.find((s) => s.id === pair?.remoteCandidateId);
  const candidates = JSON.stringify({ local, remote }, [
    'candidateType',
    'protocol',
    'relayProtocol',
    'address',
    'port',
    'url',
  ]);
  if (expected.route === 'relay') {
    assert.equal(local?.candidateType, 'relay', `relayed route: ${candidates}`);
    if (expected.relayProtocol !== undefined)
      assert.equal(local?.relayProtocol, expected.relayProtocol, `relay transport: ${candidates}`);
  } else {
    assert.ok(
      local?.candidateType === 'host' || local?.candidateType === 'srflx',
      `direct route, local end: ${candidates}`,
    );
    // The remote end is host or srflx as the peer sent it, or prflx when its checks arrived
    // before (or instead of) its candidate; never the TURN relay.
    assert.ok(
      remote !== undefined && remote.candidateType !== 'relay',
      `direct route, remote end: ${candidates}`,
    );
  }
  const a1 = inbound(first, 'audio');
  const a2 = inbound(second, 'audio');
  assert.ok(num(a2?.bytesReceived) > num(a1?.bytesReceived), 'inbound audio bytes grow');
  assert.ok(num(a2?.packetsReceived) > num(a1?.packetsReceived), 'inbound audio packets grow');
  assert.ok(num(a2?.audioLevel) > 0, `audio level ${String(a2?.audioLevel)}`);
  if (video) {
    const v1 = inbound(first, 'video');
    const v2 = inbound(second, 'video');
    assert.ok(num(v2?.bytesReceived) > num(v1?.bytesReceived), 'inbound video bytes grow');
    assert.ok(num(v2?.packetsReceived) > num(v1?.packetsReceived), 'inbound video packets grow');
    assert.ok(num(v2?.framesDecoded) > 0, 'video frames are decoded');
    const pick = (v: Stat | undefined) =>
      JSON.stringify(v, [
        'framesDecoded',
        'framesReceived',
        'framesDropped',
        'keyFramesDecoded',
        'pliCount',
        'firCount',
        'nackCount',
        'bytesReceived',
        'packetsReceived',
        'frameWidth',
        'freezeCount',
        'decoderImplementation',
      ]);
    const out = second.find((s) => s.type === 'outbound-rtp' && s.kind === 'video');
    assert.ok(
      num(v2?.framesDecoded) > num(v1?.framesDecoded),
      `video frames keep being decoded: ${pick(v1)} -> ${pick(v2)}; own outbound ${JSON.stringify(out, ['framesEncoded', 'framesSent', 'keyFramesEncoded', 'pliCount', 'qualityLimitationReason', 'frameWidth'])}`,
    );
  }
  // The panel shows the same from getStats.
  const details = page.getByRole('region', { name: 'Connection details' });
  await visible(details);
  const protocol =
    expected.route === 'relay' && expected.relayProtocol !== undefined
      ? new RegExp(`^${expected.relayProtocol.toUpperCase()}$`)
      : /^(UDP|TCP|TLS)$/;
  await waitFor('connection details', async () => {
    const route = await details.getByTestId('call-route').textContent();
    const shown = await details.getByTestId('call-protocol').textContent();
    const rtt = await details.getByTestId('call-rtt').textContent();
    const bitrate = await details.getByTestId('call-bitrate-in').textContent();
    return (
      route === expected.route &&
      protocol.test(shown ?? '') &&
      /ms$/.test(rtt ?? '') &&
      /kbit\/s$/.test(bitrate ?? '')
    );
  });
  return { local, remote };
}

/** The hooks' tone(): which call tone plays, measured from the page's audio graph (apps/web/src/tones.ts). */
export interface ToneSample {
  kind: 'ringback' | 'ring' | undefined;
  running: boolean;
  level: number;
  peakHz: number | undefined;
}

/** Below this RMS the tone output counts as silent (a burst peaks near 0.14). */
export const SILENT = 1e-3;

/**
 * Samples the call tone every `everyMs` for `ms` inside the page, so the spacing of the samples
 * does not depend on round trips to the browser (cadence checks need it).
 */
export function toneSamples(page: Page, ms: number, everyMs = 50): Promise<(ToneSample & { at: number })[]> {
  return page.evaluate(
    async ([total, every]) => {
      const hooks = (globalThis as { __kolokolCalls?: { tone(): ToneSample } }).__kolokolCalls;
      if (hooks === undefined) throw new Error('no call test hooks');
      const out: (ToneSample & { at: number })[] = [];
      const end = performance.now() + total;
      while (performance.now() < end) {
        out.push({ ...hooks.tone(), at: performance.now() });
        await new Promise((r) => setTimeout(r, every));
      }
      return out;
    },
    [ms, everyMs] as const,
  );
}

/** The tracks the page's peer connection sends (the hooks' senders()). */
export function sendingTracks(
  page: Page,
): Promise<{ kind: string; id: string; label: string; enabled: boolean; readyState: string }[]> {
  return page.evaluate(() => {
    const hooks = (
      globalThis as {
        __kolokolCalls?: {
          senders(): { kind: string; id: string; label: string; enabled: boolean; readyState: string }[];
        };
      }
    ).__kolokolCalls;
    if (hooks === undefined) throw new Error('no call test hooks');
    return hooks.senders();
  });
}

/**
 * Inbound media of `kind` keeps arriving on `page` over `ms`: packets grow, and audio has a level
 * or video frames keep being decoded. Returns the later sample.
 */
export async function assertInboundGrows(page: Page, kind: 'audio' | 'video', ms = 2000): Promise<Stat> {
  const before = inbound(await stats(page), kind);
  await new Promise((r) => setTimeout(r, ms));
  const later = inbound(await stats(page), kind);
  assert.ok(
    num(later?.packetsReceived) > num(before?.packetsReceived),
    `inbound ${kind} packets grow: ${num(before?.packetsReceived)} -> ${num(later?.packetsReceived)}`,
  );
  if (kind === 'audio') assert.ok(num(later?.audioLevel) > 0, `audio level ${String(later?.audioLevel)}`);
  else
    assert.ok(
      num(later?.framesDecoded) > num(before?.framesDecoded),
      `video frames keep being decoded: ${num(before?.framesDecoded)} -> ${num(later?.framesDecoded)}`,
    );
  return later ?? {};
}

export interface CallRig {
  server: RunningServer;
  browser: Browser;
  /** The fake microphone's tone file. */
  tone: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * The start of every browser call test: the web app built, a tone for the fake microphone, a
 * server whose TURN relay may relay between loopback peers (both browsers sit on this machine),
 * and Chromium with the call flags. `server` and `browserArgs` add to that.
 */
export async function startCallRig(
  name: string,
  o: { server?: Partial<Parameters<typeof startServer>[0]>; browserArgs?: string[] } = {},
): Promise<CallRig> {
  ensureWebApp();
  const dataDir = mkdtempSync(join(tmpdir(), `kolokol-e2e-${name}-`));
  const tone = join(dataDir, 'tone.wav');
  writeTone(tone);
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'silent',
    turn: { allowLoopbackPeers: true },
    ...o.server,
  });
  const browser = await launchChromium([...callBrowserArgs(tone), ...(o.browserArgs ?? [])]);
  return {
    server,
    browser,
    tone,
    dataDir,
    async close() {
      await browser.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
