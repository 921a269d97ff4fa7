/**
 * Calls in Chromium, end to end: two people (and a second browser of one of them) on the built web
 * app, media from Chromium's fake camera and a generated tone file as the microphone. The peers are
 * not contacts, so the SDK makes every call relay-only: the media goes through the server's
 * embedded TURN relay on loopback. Stats come from the page's RTCPeerConnection through a test hook
 * the app installs only when localStorage `kolokol:test-hooks` is '1'.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertMediaFlows,
  type CallRig,
  callPerson,
  callState,
  configureCalls,
  startCallRig,
} from './call-helpers.ts';
import {
  chatBetween,
  gone,
  hasChromium,
  message,
  openChat,
  type Person,
  send,
  shotBoth,
  visible,
} from './helpers.ts';

describe('calls', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
  let rig: CallRig;
  let alice: Person;
  let bob: Person;

  const person = (username: string, displayName: string) =>
    callPerson(rig.browser, rig.server.url, username, displayName);

  // Not contacts: relay only, over whichever TURN transport ICE picks.
  const relayed = (video: boolean) => ({ video, route: 'relay' as const });
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
    // Both browsers sit on this machine: each relays to the other's relayed address on loopback.
    rig = await startCallRig('calls');
    alice = await person('alice', 'Alice');
    bob = await person('bob', 'Bob');
    await chatBetween(alice, bob, 'Can I call you?');
  });
  after(async () => {
    await rig?.close();
  });

  test('a voice call: media flows both ways through the relay, then hang up', async () => {
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(incoming(bob), 30_000);
    await bob.page.getByRole('button', { name: 'Accept' }).click();
    await Promise.all([
      assertMediaFlows(alice.page, relayed(false)),
      assertMediaFlows(bob.page, relayed(false)),
    ]);
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
    await Promise.all([
      assertMediaFlows(alice.page, relayed(true)),
      assertMediaFlows(bob.page, relayed(true)),
    ]);
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
    await Promise.all([
      assertMediaFlows(alice.page, relayed(true)),
      assertMediaFlows(laptop.page, relayed(true)),
    ]);
    assert.equal(await callState(bob.page), undefined);
    await laptop.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(panel(alice), 30_000);
    assert.match((await historyItems(bob))[0] ?? '', /Alice.*Incoming.*Answered on another device/);
    await laptop.context.close();
  });
});
