/**
 * The two routes a call can take besides plain TURN, each in a real voice+video call between two
 * people on the web app:
 * - forced through `turns:` on the app's own host and port (the server runs with TLS, which also
 *   answers HTTPS and plain HTTP there): the one route left where everything but the app is
 *   blocked. The call test hooks keep only that ICE server in both pages;
 * - the direct route between contacts: with each other in contacts, the SDK lets ICE use every
 *   candidate (`iceTransportPolicy: 'all'`), and on one machine host candidates win over the relay.
 * Shared helpers and the fake media are in call-helpers.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser } from 'playwright-core';
import { ensureWebApp } from '../scripts/webapp.ts';
import {
  addContact,
  assertMediaFlows,
  callBrowserArgs,
  callPerson,
  configureCalls,
  type ExpectedRoute,
  writeTone,
} from './call-helpers.ts';
import { chatBetween, gone, hasChromium, launchChromium, openChat, type Person, visible } from './helpers.ts';

const hasOwnAddress = Object.values(networkInterfaces()).some((list) =>
  (list ?? []).some((i) => !i.internal),
);

describe('call routes', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-routes-'));
  const tone = join(dataDir, 'tone.wav');
  let server: RunningServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  const incoming = (p: Person) => p.page.getByRole('alertdialog');
  const panel = (p: Person) => p.page.locator('.call-panel');

  /** Alice video-calls Bob, Bob accepts, both sides see media on `expected`, Alice hangs up. */
  async function call(expected: ExpectedRoute) {
    await alice.page.getByRole('button', { name: 'Video call' }).click();
    await visible(incoming(bob), 30_000);
    await bob.page.getByRole('button', { name: 'Accept' }).click();
    const sides = await Promise.all([
      assertMediaFlows(alice.page, expected),
      assertMediaFlows(bob.page, expected),
    ]);
    await alice.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(panel(alice), 15_000);
    await gone(panel(bob), 30_000);
    return sides;
  }

  before(async () => {
    ensureWebApp();
    writeTone(tone);
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      logLevel: 'silent',
      // A self-signed certificate made in dataDir/tls: TURN over TLS on the app's port.
      tls: {},
      // Both browsers sit on this machine: each relays to the other's relayed address on loopback.
      turn: { allowLoopbackPeers: true },
    });
    browser = await launchChromium([
      ...callBrowserArgs(tone),
      // Chromium's TURN client checks the relay's certificate like a page's; this one is self-signed.
      '--ignore-certificate-errors',
    ]);
    // The port answers plain HTTP beside TLS (self-signed mode), and http://127.0.0.1 is a secure
    // context; without that the https URL works too, its certificate error ignored by the flag.
    const url = server.plainUrl ?? server.url;
    alice = await callPerson(browser, url, 'alice', 'Alice');
    bob = await callPerson(browser, url, 'bob', 'Bob');
    await chatBetween(alice, bob, 'Calls both ways?');
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('forced through turns: on the app’s own port: relayed over TLS, media both ways', async () => {
    await configureCalls(alice.page, { iceOnly: 'turns' });
    await configureCalls(bob.page, { iceOnly: 'turns' });
    const sides = await call({ video: true, route: 'relay', relayProtocol: 'tls' });
    for (const { local } of sides)
      assert.equal(local?.url, `turns:127.0.0.1:${server.port}?transport=tcp`, 'the app’s host and port');
    await configureCalls(alice.page, { iceOnly: null });
    await configureCalls(bob.page, { iceOnly: null });
  });

  // How host candidates look here, in Chromium 156 (what we measured, both peers in one browser):
  // - Chromium hides host addresses behind random `<uuid>.local` mDNS names unless the page may use
  //   the camera or microphone. callPerson grants both to the context, so the candidates carry the
  //   real addresses; without the grant the peers would have to resolve each other's names over
  //   multicast DNS (or find each other as prflx), which containers often do not carry.
  // - Chromium never gathers loopback addresses, so "direct on loopback" really means host to host
  //   over the machine's own non-loopback address (the kernel loops it back). A machine with only
  //   `lo` has no host candidate at all: the call would go through the relay, so the test skips.
  test('contacts get the direct route: host or srflx on both sides, no relay', {
    skip: !hasOwnAddress && 'no non-loopback network interface: Chromium gathers no host candidate',
  }, async () => {
    await addContact(alice, 'bob');
    await addContact(bob, 'alice');
    await openChat(alice, /bob/i);
    await openChat(bob, /alice/i);
    const sides = await call({ video: true, route: 'direct' });
    for (const { remote } of sides)
      assert.ok(
        !String(remote?.address).endsWith('.local'),
        `a real address, not an mDNS name: ${String(remote?.address)}`,
      );
  });
});
