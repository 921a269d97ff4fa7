/**
 * What a person hears and does around a call, in Chromium: ringback for the caller and a ring for
 * the callee while the call rings (measured from the page's audio graph, not from a flag), and the
 * in-call controls the other call tests leave out: switching microphone and camera, screen
 * sharing, speaker volume. Chromium's fake capture is told to offer three cameras (it offers three
 * microphones on its own) and to pick the whole screen for getDisplayMedia without a prompt.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  assertInboundGrows,
  assertMediaFlows,
  type CallRig,
  callPerson,
  configureCalls,
  endCalls,
  inbound,
  num,
  SILENT,
  type Stat,
  sendingTracks,
  startCallRig,
  stats,
  toneSamples,
  waitFor,
} from './call-helpers.ts';
import { chatBetween, gone, hasChromium, type Person, visible } from './helpers.ts';

/** Hz either side of a tone's frequency that the analyser's peak may read (its bins are ~6 Hz). */
const HZ_TOLERANCE = 15;

describe('call tones and in-call controls', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let rig: CallRig;
  let alice: Person;
  let bob: Person;

  const incoming = (p: Person) => p.page.getByRole('alertdialog');
  const panel = (p: Person) => p.page.locator('.call-panel');
  const relayed = (video: boolean) => ({ video, route: 'relay' as const });

  /** Alice calls, bob accepts, and media flows both ways. */
  async function connect(video: boolean): Promise<void> {
    await alice.page.getByRole('button', { name: video ? 'Video call' : 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await bob.page.getByRole('button', { name: 'Accept' }).click();
    await Promise.all([
      assertMediaFlows(alice.page, relayed(video)),
      assertMediaFlows(bob.page, relayed(video)),
    ]);
  }

  /** Waits until the tone of `page` is `kind` and audible at `hz` (one of them). */
  async function hears(page: Page, kind: 'ringback' | 'ring', hz: number[]): Promise<void> {
    let last: unknown;
    await waitFor(
      `${kind} audible`,
      async () => {
        // A burst starts at least every 5 s (ringback) or 3 s (ring).
        const samples = await toneSamples(page, 500);
        last = samples.at(-1);
        return samples.some(
          (s) =>
            s.kind === kind &&
            s.running &&
            s.level > SILENT * 10 &&
            s.peakHz !== undefined &&
            hz.some((f) => Math.abs((s.peakHz ?? 0) - f) < HZ_TOLERANCE),
        );
      },
      15_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last sample ${JSON.stringify(last)}`);
    });
  }

  /** The page plays no call tone: none is chosen, and the output is silent for over a second. */
  async function silent(page: Page): Promise<void> {
    await waitFor('the call tone to stop', async () => {
      const samples = await toneSamples(page, 1200, 100);
      return samples.every((s) => s.kind === undefined && s.level < SILENT);
    });
  }

  before(async () => {
    rig = await startCallRig('call-controls', {
      browserArgs: [
        // Later switches override earlier ones in Chromium: this replaces the default fake device
        // flag of launchChromium with one that offers three cameras. fake_device_1 delivers Y16
        // (a depth camera), which WebRTC cannot encode; the tests switch to fake_device_2 (MJPEG).
        '--use-fake-device-for-media-stream=device-count=3',
        '--auto-select-desktop-capture-source=Entire screen',
      ],
    });
    const { browser, server } = rig;
    alice = await callPerson(browser, server.url, 'alice', 'Alice');
    bob = await callPerson(browser, server.url, 'bob', 'Bob');
    await chatBetween(alice, bob, 'Shall we test the phone?');
  });
  afterEach(async () => {
    // A failed test must not leave a call up for the next one.
    await endCalls([alice, bob], { decline: true });
    if (alice !== undefined) await gone(panel(alice), 30_000);
    if (bob !== undefined) await gone(panel(bob), 30_000);
  });
  after(async () => {
    await rig?.close();
  });

  test('the caller hears 425 Hz ringback (1 s on, 4 s off) while bob rings; both stop on Accept', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    // Ringback starts once bob's device reports that it rings.
    await visible(alice.page.locator('.call-panel[data-tone="ringback"]'), 15_000);
    await visible(bob.page.locator('[role="alertdialog"][data-tone="ring"]'));
    await hears(alice.page, 'ringback', [425]);
    await hears(bob.page, 'ring', [523.25, 659.25]);

    // 6.5 s always holds one whole burst: measure its length and the silence around it.
    const samples = await toneSamples(alice.page, 6500);
    assert.ok(
      samples.every((s) => s.kind === 'ringback' && s.running),
      'ringback throughout the ringing',
    );
    const on = (s: { level: number }) => s.level > SILENT * 10;
    for (const s of samples.filter(on))
      assert.ok(Math.abs((s.peakHz ?? 0) - 425) < HZ_TOLERANCE, `ringback at 425 Hz, got ${s.peakHz}`);
    const share = samples.filter(on).length / samples.length;
    assert.ok(share > 0.1 && share < 0.4, `ringback sounds about 1 s in 5: on for ${share} of the time`);
    let longest = 0;
    let since: number | undefined;
    for (const s of samples) {
      if (on(s)) since ??= s.at;
      else if (since !== undefined) {
        longest = Math.max(longest, s.at - since);
        since = undefined;
      }
    }
    assert.ok(longest > 750 && longest < 1300, `one burst lasts about 1 s: ${longest} ms`);
    assert.ok(
      samples.some((s) => s.level < SILENT),
      'silence between the bursts',
    );

    await bob.page.getByRole('button', { name: 'Accept' }).click();
    await Promise.all([silent(alice.page), silent(bob.page)]);
    await visible(alice.page.locator('.call-panel[data-tone="none"]'));
    await assertMediaFlows(alice.page, relayed(false));
    // Still silent in the call: no tone comes back once connected.
    const inCall = await toneSamples(alice.page, 1500, 100);
    assert.ok(
      inCall.every((s) => s.kind === undefined && s.level < SILENT),
      JSON.stringify(inCall.at(-1)),
    );
  });

  test('ringback and ring stop on decline, on the caller hanging up, and on timeout', async () => {
    // Decline.
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await hears(alice.page, 'ringback', [425]);
    await bob.page.getByRole('button', { name: 'Decline' }).click();
    await gone(panel(alice), 30_000);
    await Promise.all([silent(alice.page), silent(bob.page)]);

    // The caller gives up while bob's device rings.
    await alice.page.getByRole('button', { name: 'Video call' }).click();
    await visible(incoming(bob), 30_000);
    await Promise.all([hears(alice.page, 'ringback', [425]), hears(bob.page, 'ring', [523.25, 659.25])]);
    await alice.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(incoming(bob), 30_000);
    await Promise.all([silent(alice.page), silent(bob.page)]);

    // Nobody answers.
    await configureCalls(alice.page, { ringTimeoutMs: 6000 });
    await configureCalls(bob.page, { ringTimeoutMs: 6000 });
    try {
      await alice.page.getByRole('button', { name: 'Voice call' }).click();
      await visible(incoming(bob), 30_000);
      await hears(alice.page, 'ringback', [425]);
      await gone(panel(alice), 30_000);
      await gone(incoming(bob), 30_000);
      await Promise.all([silent(alice.page), silent(bob.page)]);
    } finally {
      await configureCalls(alice.page, { ringTimeoutMs: 45_000 });
      await configureCalls(bob.page, { ringTimeoutMs: 45_000 });
    }
  });

  test('switching microphone and camera in a call: the menus list the devices and media keeps flowing', async () => {
    await connect(true);
    const call = alice.page.locator('.call-panel');
    const mic = call.getByLabel('Microphone');
    const cam = call.getByLabel('Video source');
    assert.deepEqual(await mic.locator('option').allTextContents(), [
      'Fake Default Audio Input',
      'Fake Audio Input 1',
      'Fake Audio Input 2',
    ]);
    assert.deepEqual(await cam.locator('option').allTextContents(), [
      'fake_device_0',
      'fake_device_1',
      'fake_device_2',
    ]);
    const sent = async (kind: string) => (await sendingTracks(alice.page)).find((t) => t.kind === kind);
    assert.equal((await sent('video'))?.label, 'fake_device_0');

    await mic.selectOption({ label: 'Fake Audio Input 1' });
    await waitFor(
      'the new microphone on the sender',
      async () => (await sent('audio'))?.label === 'Fake Audio Input 1',
    );
    assert.equal((await sent('audio'))?.readyState, 'live');
    assert.equal(await mic.locator('option:checked').textContent(), 'Fake Audio Input 1');
    await assertInboundGrows(bob.page, 'audio');

    await cam.selectOption({ label: 'fake_device_2' });
    await waitFor(
      'the new camera on the sender',
      async () => (await sent('video'))?.label === 'fake_device_2',
    );
    assert.equal(await cam.locator('option:checked').textContent(), 'fake_device_2');
    // The local preview shows the new camera, and the old one is released.
    const preview = await alice.page
      .getByRole('region', { name: 'Call with Bob' })
      .getByLabel('Your camera')
      .evaluate((v) =>
        ((v as HTMLVideoElement).srcObject as MediaStream).getVideoTracks().map((t) => t.label),
      );
    assert.deepEqual(preview, ['fake_device_2']);
    await assertInboundGrows(bob.page, 'video');
    await assertInboundGrows(bob.page, 'audio');

    // Muting survives a switch: the new microphone track starts muted.
    await call.getByRole('button', { name: 'Mute' }).click();
    await mic.selectOption({ label: 'Fake Audio Input 2' });
    await waitFor(
      'the third microphone on the sender',
      async () => (await sent('audio'))?.label === 'Fake Audio Input 2',
    );
    assert.equal((await sent('audio'))?.enabled, false);
  });

  test('screen sharing replaces the outbound video, the peer keeps decoding, and stopping restores the camera', async () => {
    await connect(true);
    const aspect = (s: Stat | undefined) => num(s?.frameWidth) / Math.max(1, num(s?.frameHeight));
    const peerVideo = async () => inbound(await stats(bob.page), 'video');
    const outVideo = async () =>
      (await stats(alice.page)).find((s) => s.type === 'outbound-rtp' && s.kind === 'video');
    // The fake camera is 4:3; the fake screen 16:9.
    await waitFor('4:3 camera video at bob', async () => Math.abs(aspect(await peerVideo()) - 4 / 3) < 0.05);
    const camera = (await sendingTracks(alice.page)).find((t) => t.kind === 'video');
    assert.equal(camera?.label, 'fake_device_0');

    const share = alice.page.getByRole('button', { name: 'Share screen' });
    await share.click();
    // Bob is not in Alice's contacts: she is warned first (consent.test.ts covers Cancel).
    const warning = alice.page.getByRole('dialog', {
      name: /Share your screen with someone not in your contacts/,
    });
    await visible(warning);
    await warning.getByRole('button', { name: 'Share anyway' }).click();
    await waitFor('share pressed', async () => (await share.getAttribute('aria-pressed')) === 'true');
    const shared = (await sendingTracks(alice.page)).find((t) => t.kind === 'video');
    assert.ok(shared !== undefined && shared.id !== camera?.id, 'a new outbound video track');
    assert.match(shared.label, /^screen:/);
    await waitFor(
      '16:9 screen video encoded',
      async () => Math.abs(aspect(await outVideo()) - 16 / 9) < 0.05,
    );
    await waitFor(
      '16:9 screen video decoded at bob',
      async () => Math.abs(aspect(await peerVideo()) - 16 / 9) < 0.05,
    );
    await assertInboundGrows(bob.page, 'video');
    await assertInboundGrows(bob.page, 'audio');

    await share.click();
    await waitFor('share released', async () => (await share.getAttribute('aria-pressed')) === 'false');
    // The camera goes back on the sender asynchronously after the button is released.
    await waitFor(
      'the camera track sent again',
      async () => (await sendingTracks(alice.page)).find((t) => t.kind === 'video')?.id === camera?.id,
      10_000,
    );
    await waitFor(
      '4:3 camera video at bob again',
      async () => Math.abs(aspect(await peerVideo()) - 4 / 3) < 0.05,
    );
    await assertInboundGrows(bob.page, 'video');
  });

  test('the speaker volume control sets the volume of the remote audio and video', async () => {
    const remoteVolume = (p: Person) =>
      p.page.locator('.call-panel').evaluate((el) => {
        const media = el.querySelector<HTMLMediaElement>('video.remote, audio');
        if (media === null) throw new Error('no remote media element');
        return { volume: media.volume, playing: !media.paused && media.srcObject !== null };
      });
    // The volume is a preference that outlives a call: the voice call leaves it at 0.25, the
    // video call starts there and ends at 0.75.
    const steps = [
      { video: false, from: 1, key: 'Home', start: 0, step: 'ArrowRight', to: 0.25 },
      { video: true, from: 0.25, key: 'End', start: 1, step: 'ArrowLeft', to: 0.75 },
    ];
    for (const s of steps) {
      await connect(s.video);
      const slider = bob.page.getByRole('slider', { name: 'Speaker volume' });
      assert.deepEqual(await remoteVolume(bob), { volume: s.from, playing: true });
      assert.equal(Number(await slider.inputValue()), s.from);
      // The keyboard is the accessible way to move a slider: to one end, then five 0.05 steps.
      await slider.focus();
      await bob.page.keyboard.press(s.key);
      await waitFor(`volume ${s.start}`, async () => (await remoteVolume(bob)).volume === s.start);
      for (let i = 0; i < 5; i++) await bob.page.keyboard.press(s.step);
      await waitFor(`volume ${s.to}`, async () => Math.abs((await remoteVolume(bob)).volume - s.to) < 1e-6);
      assert.equal(Number(await slider.inputValue()), s.to);
      // Only bob's side changed, and the media still plays.
      assert.deepEqual(await remoteVolume(alice), { volume: 1, playing: true });
      assert.equal((await remoteVolume(bob)).playing, true);
      await assertInboundGrows(bob.page, 'audio');
      await bob.page.getByRole('button', { name: 'Hang up' }).click();
      await gone(panel(bob), 15_000);
      await gone(panel(alice), 30_000);
    }
  });
});
