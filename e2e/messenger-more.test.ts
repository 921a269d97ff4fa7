/**
 * More of the web messenger in Chromium: an avatar chosen at sign-up reaching the other person, the
 * invite QR of Settings scanned by another person's camera, in-app notifications, blocking and
 * unblocking, leaving and removing in a group, cancelling an upload and a download, and the
 * screenshots of the screens the other files do not cover (contacts, call history, the new chat
 * and new group dialogs, 1:1 chat info, an upload in progress).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, CDPSession, Page } from 'playwright-core';
import QRCode from 'qrcode';
import {
  type App,
  gone,
  hasChromium,
  launchChromium,
  message,
  openChat,
  openPerson,
  type Person,
  send,
  shotBoth,
  signUp,
  startApp,
  startChat,
  visible,
} from './helpers.ts';
import { pixelsOf, writePictureVideo } from './qr-camera.ts';

/** Shares of an <img>'s pixels that are mostly red and mostly blue. */
function colours(page: Page, name: string | RegExp) {
  return page
    .getByRole('img', { name })
    .first()
    .evaluate((el) => {
      const img = el as HTMLImageElement;
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d');
      if (ctx === null || canvas.width === 0) return { red: 0, blue: 0 };
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let red = 0;
      let blue = 0;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i] ?? 0, d[i + 1] ?? 0, d[i + 2] ?? 0];
        if (r > 150 && g < 100 && b < 100) red++;
        if (b > 150 && r < 100 && g < 120) blue++;
      }
      const n = d.length / 4;
      return { red: red / n, blue: blue / n };
    });
}

async function throttle(cdp: CDPSession, bytesPerSecond: { up?: number; down?: number }): Promise<void> {
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: bytesPerSecond.down ?? -1,
    uploadThroughput: bytesPerSecond.up ?? -1,
  });
}

const toasts = (p: Person) => p.page.getByRole('region', { name: 'Alerts' });

describe('web messenger, more', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
  let app: App;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let camera: Browser | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-more-'));

  before(async () => {
    app = await startApp();
  });
  after(async () => {
    await camera?.close();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an avatar chosen at sign-up is what the other person sees', async () => {
    // A red and blue picture, so that what reaches Bob can be told from the initials placeholder.
    const picture = await QRCode.toBuffer('kolokol avatar', {
      width: 256,
      margin: 0,
      color: { dark: '#d02020ff', light: '#2040e0ff' },
    });
    const { context, page } = await openPerson(app);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Display name').fill('Alice Liddell');
    await page.getByLabel('Avatar', { exact: true }).setInputFiles({
      name: 'me.png',
      mimeType: 'image/png',
      buffer: picture,
    });
    await visible(page.getByRole('img', { name: 'Avatar of Alice Liddell' }));
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
    alice = { username: 'alice', context, page };
    bob = await signUp(app, 'bob', 'Bob Builder');

    await startChat(alice, 'bob');
    await send(alice, 'Do you like my picture?');
    const row = bob.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /alice/i });
    await visible(row, 30_000);
    await visible(row.getByRole('img', { name: 'Avatar of Alice Liddell' }), 30_000);
    await openChat(bob, /alice/i);
    await visible(message(bob, 'Do you like my picture?'), 30_000);
    const header = bob.page.getByRole('region', { name: 'Alice Liddell' }).locator('.chat-head');
    await visible(header.getByRole('img', { name: 'Avatar of Alice Liddell' }), 30_000);
    const seen = await colours(bob.page, 'Avatar of Alice Liddell');
    assert.ok(
      seen.red > 0.1 && seen.blue > 0.1,
      `Bob's copy is not Alice's picture: ${JSON.stringify(seen)}`,
    );
    // Bob chose none: Alice sees his initials, not a picture.
    await gone(
      alice.page.getByRole('list', { name: 'Chats' }).getByRole('img', { name: 'Avatar of Bob Builder' }),
      1000,
    );
  });

  test('an avatar set later in Settings reaches the people one already chats with', async () => {
    const picture = await QRCode.toBuffer('bob avatar', {
      width: 256,
      margin: 0,
      color: { dark: '#d02020ff', light: '#2040e0ff' },
    });
    await bob.page.getByRole('button', { name: 'Settings' }).first().click();
    await visible(bob.page.getByRole('heading', { name: 'Settings' }));
    await bob.page
      .getByLabel('Avatar', { exact: true })
      .setInputFiles({ name: 'bob.png', mimeType: 'image/png', buffer: picture });
    await visible(bob.page.getByRole('button', { name: 'Remove avatar' }), 30_000);
    const row = alice.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /bob/i });
    await visible(row.getByRole('img', { name: 'Avatar of Bob Builder' }), 30_000);
    const seen = await colours(alice.page, 'Avatar of Bob Builder');
    assert.ok(
      seen.red > 0.1 && seen.blue > 0.1,
      `Alice's copy is not Bob's picture: ${JSON.stringify(seen)}`,
    );
    await openChat(bob, /alice/i);
  });

  test('the invite QR in Settings, scanned with the New chat camera, opens a chat', async () => {
    await alice.page.getByRole('button', { name: 'Settings' }).first().click();
    const qr = alice.page.getByRole('img', { name: 'Your invite link', exact: true });
    await visible(qr);
    await alice.page.waitForFunction(
      () => (document.querySelector('img.qr') as HTMLImageElement | null)?.complete === true,
    );
    const video = join(dir, 'invite.y4m');
    writePictureVideo(await pixelsOf(alice.page, 'Your invite link'), video);
    camera = await launchChromium([`--use-file-for-fake-video-capture=${video}`]);
    carol = await signUp({ ...app, browser: camera }, 'carol', 'Carol Cam');
    await carol.context.grantPermissions(['camera']);

    await carol.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = carol.page.getByRole('dialog', { name: 'New chat' });
    await visible(dialog.getByLabel('Username'));
    await shotBoth(carol.page, 'new-chat');
    await dialog.getByRole('button', { name: 'Scan invite QR' }).click();
    await visible(carol.page.getByRole('region', { name: /alice/i }), 60_000);
    await visible(carol.page.getByRole('log', { name: 'Messages' }));
    await send(carol, 'Found you through your QR code');
    await visible(
      alice.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /carol/i }),
      30_000,
    );
    await openChat(alice, /carol/i);
    await visible(message(alice, 'Found you through your QR code'), 30_000);
  });

  test('a message in another chat shows an in-app notification that opens that chat', async () => {
    await openChat(alice, /bob/i);
    // Notices of earlier tests' messages fade first, so that any notice counted below is new.
    await gone(toasts(alice).getByText(/^New message from/), 30_000);
    // A message in the open chat: no notification.
    await send(bob, 'In the chat you have open');
    await visible(message(alice, 'In the chat you have open'), 30_000);
    assert.equal(
      await toasts(alice)
        .getByText(/^New message from (Bob Builder|bob)$/)
        .count(),
      0,
    );
    // A message in another chat: one, naming the sender, linking to the chat.
    await send(carol, 'Over here, in our chat');
    const toast = toasts(alice).getByRole('link', { name: /^New message from (Carol Cam|carol)$/ });
    await visible(toast, 30_000);
    assert.equal(await message(alice, 'Over here, in our chat').count(), 0);
    await toast.click();
    await visible(alice.page.getByRole('region', { name: /carol/i }));
    await visible(message(alice, 'Over here, in our chat'), 30_000);
    await gone(toast);
  });

  test('a notification leaves the Send button free, and opening its chat from the list dismisses it', async () => {
    await openChat(alice, /bob/i);
    await send(carol, 'One more, while you write elsewhere');
    const toast = toasts(alice).getByRole('link', { name: /^New message from (Carol Cam|carol)$/ });
    await visible(toast, 30_000);
    const composer = alice.page.getByLabel('Message', { exact: true });
    await composer.fill('half a thought');
    // What a click at the middle of Send reaches: the button, not a notification over it (one at
    // the bottom end of the window covered it for its five seconds).
    const reached = await alice.page.getByRole('button', { name: 'Send' }).evaluate((el) => {
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return hit === null ? 'nothing' : el.contains(hit) ? 'send' : hit.outerHTML.slice(0, 120);
    });
    assert.equal(reached, 'send');
    await composer.fill('');
    await openChat(alice, /carol/i);
    await gone(toast);
    await visible(message(alice, 'One more, while you write elsewhere'), 30_000);

    // On a phone the notification sits above the composer, however tall the text makes it.
    const size = alice.page.viewportSize();
    await alice.page.setViewportSize({ width: 390, height: 844 });
    try {
      await composer.fill('a longer thought\nover\nseveral\nlines');
      await send(bob, 'And one from bob, while you are on your phone');
      const fromBob = toasts(alice).getByRole('link', { name: /^New message from (Bob Builder|bob)$/ });
      await visible(fromBob, 30_000);
      const toastBox = await toasts(alice).boundingBox();
      const composerBox = await alice.page.locator('.composer-wrap').boundingBox();
      assert.ok(toastBox !== null && composerBox !== null);
      assert.ok(
        toastBox.y + toastBox.height <= composerBox.y,
        `the notification (bottom ${toastBox.y + toastBox.height}) overlaps the composer (top ${composerBox.y})`,
      );
      await composer.fill('');
    } finally {
      if (size !== null) await alice.page.setViewportSize(size);
    }
  });

  test('block and unblock in chat info: a blocked person’s messages do not show', async () => {
    await openChat(alice, /bob/i);
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Chat info' }));
    await visible(alice.page.getByText('@bob', { exact: true }));
    await shotBoth(alice.page, 'chat-info');
    await alice.page.getByRole('button', { name: 'Block @bob' }).click();
    await alice.page.getByRole('dialog').getByRole('button', { name: 'Block @bob' }).click();
    await visible(alice.page.getByRole('button', { name: 'Unblock @bob' }), 30_000);
    await alice.page.getByRole('button', { name: 'Back' }).first().click();
    await visible(alice.page.getByText('You blocked @bob. You will not see their messages.'));
    await gone(alice.page.getByLabel('Message', { exact: true }));

    await send(bob, 'Sent while blocked');
    await visible(
      message(bob, 'Sent while blocked').getByRole('img', { name: /^(Sent|Delivered)$/ }),
      30_000,
    );
    // Alice's browser is online and gets it within moments; it must not appear.
    await alice.page.waitForTimeout(3000);
    assert.equal(await message(alice, 'Sent while blocked').count(), 0);
    assert.equal(
      await alice.page.getByRole('list', { name: 'Chats' }).getByText('Sent while blocked').count(),
      0,
    );

    // The contacts screen lists whom Alice blocked; she adds Carol as a contact there.
    await alice.page.getByRole('button', { name: 'Contacts' }).click();
    await visible(alice.page.getByRole('list', { name: 'Blocked' }).getByText('@bob'));
    await alice.page.getByLabel('Username').fill('carol');
    await alice.page.getByRole('button', { name: 'Add contact' }).click();
    await visible(alice.page.getByRole('list', { name: 'Contacts' }).getByText('@carol'), 30_000);
    await shotBoth(alice.page, 'contacts');

    await openChat(alice, /bob/i);
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await alice.page.getByRole('button', { name: 'Unblock @bob' }).click();
    await visible(alice.page.getByRole('button', { name: 'Block @bob' }), 30_000);
    await alice.page.getByRole('button', { name: 'Back' }).first().click();
    await visible(alice.page.getByLabel('Message', { exact: true }));
    await send(bob, 'Sent after the unblock');
    await visible(message(alice, 'Sent after the unblock'), 30_000);
    // Messages arrive in order: the one sent while blocked was dropped, not delayed.
    assert.equal(await message(alice, 'Sent while blocked').count(), 0);
    await send(alice, 'Welcome back');
    await visible(message(bob, 'Welcome back'), 30_000);
  });

  test('group: a member leaves and the others see it; the admin removes a member', async () => {
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.page.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill('Garden club');
    await dialog.getByLabel('Members').fill('bob, carol');
    await shotBoth(alice.page, 'new-group');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(alice.page.getByRole('region', { name: 'Garden club' }), 60_000);
    await send(alice, 'Welcome to the garden club');
    for (const p of [bob, carol]) {
      await visible(p.page.getByRole('list', { name: 'Chats' }).getByText('Garden club'), 60_000);
      await openChat(p, 'Garden club');
      await visible(message(p, 'Welcome to the garden club'), 30_000);
    }
    const members = (p: Person) =>
      p.page
        .getByRole('region', { name: 'Garden club' })
        .locator('.chat-head')
        .getByText(/\d+ members?/);
    assert.equal(await members(alice).textContent(), '3 members');

    // Bob leaves.
    await bob.page.getByRole('button', { name: 'Chat info' }).click();
    await bob.page.getByRole('button', { name: 'Leave group' }).click();
    await bob.page.getByRole('dialog').getByRole('button', { name: 'Leave group' }).click();
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText('You left'), 30_000);
    await openChat(bob, 'Garden club');
    await visible(bob.page.getByText('You are no longer in this chat.'));
    await gone(bob.page.getByLabel('Message', { exact: true }));
    // Alice and Carol see him gone.
    for (const p of [alice, carol]) {
      await visible(members(p).filter({ hasText: '2 members' }), 30_000);
      await p.page.getByRole('button', { name: 'Chat info' }).click();
      await visible(p.page.getByRole('heading', { name: 'Members' }));
      await visible(p.page.getByText('@carol', { exact: true }));
      assert.equal(await p.page.getByText('@bob', { exact: true }).count(), 0);
      await p.page.getByRole('button', { name: 'Back' }).first().click();
    }
    await send(carol, 'Bob has gone');
    await visible(message(alice, 'Bob has gone'), 30_000);

    // Alice, the admin, removes Carol.
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await alice.page.getByRole('button', { name: /^Remove carol/i }).click();
    await gone(alice.page.getByText('@carol', { exact: true }), 30_000);
    await alice.page.getByRole('button', { name: 'Back' }).first().click();
    await visible(members(alice).filter({ hasText: '1 member' }), 30_000);
    await visible(carol.page.getByText('You are no longer in this chat.'), 30_000);
    await gone(carol.page.getByLabel('Message', { exact: true }));
    await visible(carol.page.getByRole('list', { name: 'Chats' }).getByText('You left'));
    // Neither hears what is said after they went (the 1:1 chat, written to after, still works).
    await send(alice, 'Just me now');
    await visible(message(alice, 'Just me now'));
    await openChat(carol, /alice/i);
    await openChat(alice, /carol/i);
    await send(alice, 'Carol, you still hear me here');
    await visible(message(carol, 'Carol, you still hear me here'), 30_000);
    await openChat(carol, 'Garden club');
    assert.equal(await message(carol, 'Just me now').count(), 0);
    await openChat(bob, 'Garden club');
    assert.equal(await message(bob, 'Just me now').count(), 0);
  });

  test('an upload and a download can be cancelled', async () => {
    await openChat(alice, /bob/i);
    await openChat(bob, /alice/i);
    const aliceNet = await alice.context.newCDPSession(alice.page);
    await throttle(aliceNet, { up: 256 * 1024 });
    const chooser = alice.page.waitForEvent('filechooser');
    await alice.page.getByRole('button', { name: 'Attach' }).click();
    await (await chooser).setFiles({
      name: 'never-sent.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(4 * 1024 * 1024, 3),
    });
    const up = alice.page.getByRole('progressbar', { name: 'Sending never-sent.bin' });
    await visible(up);
    await shotBoth(alice.page, 'attachment-uploading');
    await message(alice, 'never-sent.bin').getByRole('button', { name: 'Cancel' }).click();
    await gone(up);
    await gone(message(alice, 'never-sent.bin'));
    await throttle(aliceNet, {});
    await send(alice, 'I changed my mind about that file');
    await visible(message(bob, 'I changed my mind about that file'), 30_000);
    // Later messages arrive in order: the cancelled file was never sent.
    assert.equal(await message(bob, 'never-sent.bin').count(), 0);
    await alice.page.waitForTimeout(1000);
    assert.equal(await message(alice, 'never-sent.bin').count(), 0);

    const chooser2 = alice.page.waitForEvent('filechooser');
    await alice.page.getByRole('button', { name: 'Attach' }).click();
    await (await chooser2).setFiles({
      name: 'big-report.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(3 * 1024 * 1024, 5),
    });
    await visible(message(bob, 'big-report.bin'), 60_000);
    const bobNet = await bob.context.newCDPSession(bob.page);
    await throttle(bobNet, { down: 128 * 1024 });
    const item = message(bob, 'big-report.bin');
    await item.getByRole('button', { name: 'Download' }).click();
    const down = bob.page.getByRole('progressbar', { name: 'Downloading big-report.bin' });
    await visible(down);
    await item.getByRole('button', { name: 'Cancel' }).click();
    await gone(down);
    await visible(item.getByRole('button', { name: 'Download' }));
    // Cancelled, not failed: no error, and it downloads when asked again.
    assert.equal(await item.getByRole('alert').count(), 0);
    await throttle(bobNet, {});
    const download = bob.page.waitForEvent('download');
    await item.getByRole('button', { name: 'Download' }).click();
    assert.equal((await download).suggestedFilename(), 'big-report.bin');
  });

  test('call history with a declined call', async () => {
    await openChat(alice, /bob/i);
    await alice.context.grantPermissions(['microphone']);
    await bob.context.grantPermissions(['microphone']);
    await alice.page.getByRole('button', { name: 'Voice call' }).click();
    await visible(bob.page.getByRole('alertdialog'), 30_000);
    await bob.page.getByRole('button', { name: 'Decline' }).click();
    await visible(alice.page.getByText(/^Bob( Builder)? declined the call$/), 30_000);
    await alice.page.getByRole('button', { name: 'Call history' }).click();
    const list = alice.page.getByRole('list', { name: 'Call history' });
    await visible(list.getByRole('listitem').filter({ hasText: /Bob.*Declined/ }), 30_000);
    await shotBoth(alice.page, 'call-history');
    await alice.page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  });
});
