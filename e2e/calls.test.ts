/**
 * Calls in Chromium, end to end: two people (and a second browser of one of them) on the built web
 * app, media from Chromium's fake camera and a generated tone file as the microphone. The peers are
 * not contacts, so the SDK makes every call relay-only: the media goes through the server's
 * embedded TURN relay on loopback. Stats come from the page's RTCPeerConnection through a test hook
 * the app installs only when localStorage `kolokol:test-hooks` is '1'.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser, Page } from 'playwright-core';
import { ensureWebApp } from '../scripts/webapp.ts';
import {
  gone,
  hasChromium,
  launchChromium,
  message,
  openChat,
  type Person,
  send,
  shotBoth,
  startChat,
  visible,
} from './helpers.ts';

/** A mono 16-bit PCM WAV of a sine tone: the fake microphone. */
function writeTone(path: string, seconds = 5, hz = 440, rate = 48_000): void {
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

type Stat = Record<string, unknown>;

function stats(page: Page): Promise<Stat[]> {
  return page.evaluate(() => {
    const hooks = (globalThis as { __kolokolCalls?: { stats(): Promise<Record<string, unknown>[]> } })
      .__kolokolCalls;
    if (hooks === undefined) throw new Error('no call test hooks');
    return hooks.stats();
  });
}

function callState(page: Page): Promise<string | undefined> {
  return page.evaluate(() =>
    (globalThis as { __kolokolCalls?: { state(): string | undefined } }).__kolokolCalls?.state(),
  );
}

function configureCalls(page: Page, o: { ringTimeoutMs?: number }): Promise<void> {
  return page.evaluate((opts) => {
    (globalThis as { __kolokolCalls?: { configure(o: unknown): void } }).__kolokolCalls?.configure(opts);
  }, o);
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

function selectedPair(all: Stat[]): Stat | undefined {
  const transport = all.find((s) => s.type === 'transport');
  return all.find((s) => s.id === transport?.selectedCandidatePairId);
}

function inbound(all: Stat[], kind: 'audio' | 'video'): Stat | undefined {
  return all.find((s) => s.type === 'inbound-rtp' && s.kind === kind);
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * The media assertions of one side: a succeeded relay pair, inbound bytes and packets growing,
 * an audible tone, and for video calls decoded frames that keep coming.
 */
async function assertMediaFlows(page: Page, video: boolean): Promise<void> {
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
  await waitFor('the selected candidate pair to read succeeded', async () => {
    pair = selectedPair(await stats(page));
    return pair?.state === 'succeeded';
  });
  assert.equal(pair?.state, 'succeeded', JSON.stringify(pair));
  const local = second.find((s) => s.id === pair?.localCandidateId);
  assert.equal(local?.candidateType, 'relay', 'not a contact: relay only');
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
  await waitFor('connection details', async () => {
    const route = await details.getByTestId('call-route').textContent();
    const protocol = await details.getByTestId('call-protocol').textContent();
    const rtt = await details.getByTestId('call-rtt').textContent();
    const bitrate = await details.getByTestId('call-bitrate-in').textContent();
    return (
      route === 'relay' &&
      /^(UDP|TCP|TLS)$/.test(protocol ?? '') &&
      /ms$/.test(rtt ?? '') &&
      /kbit\/s$/.test(bitrate ?? '')
    );
  });
}

describe('calls', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-calls-'));
  const tone = join(dataDir, 'tone.wav');
  let server: RunningServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  async function person(username: string, displayName: string): Promise<Person> {
    const context = await browser.newContext({
      locale: 'en-US',
      viewport: { width: 1200, height: 800 },
      serviceWorkers: 'block',
    });
    await context.grantPermissions(['camera', 'microphone']);
    await context.addInitScript(() => localStorage.setItem('kolokol:test-hooks', '1'));
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`[page error ${username}] ${e.message}`));
    await page.goto(`${server.url}/`);
    if (displayName !== '') {
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Display name').fill(displayName);
      await page.getByRole('button', { name: 'Create account' }).click();
      await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
    }
    return { username, context, page };
  }

  const incoming = (p: Person) => p.page.getByRole('alertdialog');
  const panel = (p: Person) => p.page.locator('.call-panel');
  const historyItems = async (p: Person) => {
    await p.page.getByRole('button', { name: 'Call history' }).click();
    const list = p.page.getByRole('list', { name: 'Call history' });
    await visible(list);
    const texts = await list.getByRole('listitem').allTextContents();
    await p.page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    return texts;
  };

  before(async () => {
    ensureWebApp();
    writeTone(tone);
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      logLevel: 'silent',
      // Both browsers sit on this machine: each relays to the other's relayed address on loopback.
      turn: { allowLoopbackPeers: true },
    });
    browser = await launchChromium([
      `--use-file-for-fake-audio-capture=${tone}`,
      '--autoplay-policy=no-user-gesture-required',
    ]);
    alice = await person('alice', 'Alice');
    bob = await person('bob', 'Bob');
    await startChat(alice, 'bob');
    await send(alice, 'Can I call you?');
    await visible(
      bob.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /alice/i }),
      30_000,
    );
    await openChat(bob, /alice/i);
    await visible(message(bob, 'Can I call you?'), 30_000);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a voice call: media flows both ways through the relay, then hang up', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await bob.page.getByRole('button', { name: 'Accept' }).click();
    await Promise.all([assertMediaFlows(alice.page, false), assertMediaFlows(bob.page, false)]);
    // Mute is a toggle on the local track.
    const mute = alice.page.getByRole('button', { name: 'Mute' });
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await alice.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(panel(alice), 15_000);
    await gone(panel(bob), 30_000);
    assert.match((await historyItems(alice))[0] ?? '', /Bob.*Outgoing.*voice.*Ended/);
    assert.match((await historyItems(bob))[0] ?? '', /Alice.*Incoming.*voice.*Ended/);
  });

  test('a video call: frames are decoded on both sides', async () => {
    await bob.page.getByRole('button', { name: 'Video call' }).click();
    await visible(incoming(alice), 30_000);
    await alice.page.getByRole('button', { name: 'Accept' }).click();
    await Promise.all([assertMediaFlows(alice.page, true), assertMediaFlows(bob.page, true)]);
    await shotBoth(bob.page, 'call-video');
    const camera = bob.page.getByRole('button', { name: 'Camera' });
    assert.equal(await camera.getAttribute('aria-pressed'), 'true');
    await camera.click();
    assert.equal(await camera.getAttribute('aria-pressed'), 'false');
    await visible(bob.page.getByRole('button', { name: 'Share screen' }));
    await bob.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(panel(bob), 15_000);
    await gone(panel(alice), 30_000);
  });

  test('decline ends the call on both sides and is in the history', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await bob.page.getByRole('button', { name: 'Decline' }).click();
    await gone(incoming(bob));
    await gone(panel(alice), 30_000);
    await visible(alice.page.getByText('Bob declined the call'), 10_000);
    assert.match((await historyItems(alice))[0] ?? '', /Bob.*Outgoing.*Declined/);
    assert.match((await historyItems(bob))[0] ?? '', /Alice.*Incoming.*Declined/);
  });

  test('an unanswered call times out: a missed call in the chat and the history', async () => {
    await configureCalls(alice.page, { ringTimeoutMs: 4000 });
    await configureCalls(bob.page, { ringTimeoutMs: 4000 });
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await gone(incoming(bob), 30_000);
    await gone(panel(alice), 30_000);
    await visible(
      bob.page
        .getByRole('log', { name: 'Messages' })
        .getByRole('note')
        .filter({ hasText: 'Missed call from Alice' }),
      15_000,
    );
    await visible(alice.page.getByText('Bob did not answer'), 10_000);
    assert.match((await historyItems(bob))[0] ?? '', /Alice.*Missed.*No answer/);
    assert.match((await historyItems(alice))[0] ?? '', /Bob.*Outgoing.*No answer/);
    await configureCalls(alice.page, { ringTimeoutMs: 45_000 });
    await configureCalls(bob.page, { ringTimeoutMs: 45_000 });
  });

  test('a call rings on both of bob’s browsers; the one that answers takes it', async () => {
    await bob.page.getByRole('button', { name: 'Devices' }).click();
    await bob.page.getByRole('button', { name: 'Link a device' }).click();
    const dialog = bob.page.getByRole('dialog', { name: 'Link a device' });
    const code = ((await dialog.getByTestId('link-code').textContent()) ?? '').trim();
    const laptop = await person('bob', '');
    await laptop.page.getByRole('tab', { name: 'Link this browser' }).click();
    await laptop.page.getByLabel('Link code').fill(code);
    await laptop.page.getByRole('button', { name: 'Link this browser' }).click();
    await visible(laptop.page.getByRole('list', { name: 'Chats' }), 60_000);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await visible(
      laptop.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /alice/i }),
      60_000,
    );
    await openChat(laptop, /alice/i);
    // The laptop is in the group once a message reaches it.
    await send(alice, 'Ring both');
    await visible(message(laptop, 'Ring both'), 60_000);

    await alice.page.getByRole('button', { name: 'Video call' }).click();
    await visible(incoming(bob), 30_000);
    await visible(incoming(laptop), 30_000);
    await laptop.page.getByRole('button', { name: 'Accept' }).click();
    await gone(incoming(bob), 30_000);
    await Promise.all([assertMediaFlows(alice.page, true), assertMediaFlows(laptop.page, true)]);
    assert.equal(await callState(bob.page), undefined);
    await laptop.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(panel(alice), 30_000);
    assert.match((await historyItems(bob))[0] ?? '', /Alice.*Incoming.*Answered on another device/);
    await laptop.context.close();
  });
});
