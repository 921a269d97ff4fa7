/**
 * Two people in Chromium: with read receipts turned off the sender's tick stays "Delivered" even
 * though the chat was read, and a slow download shows its progress bar before the file is saved.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type App,
  gone,
  hasChromium,
  message,
  openChat,
  type Person,
  send,
  signUp,
  startApp,
  startChat,
  visible,
} from './helpers.ts';

describe('web receipts and downloads', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  let alice: Person;
  let bob: Person;

  before(async () => {
    app = await startApp();
    alice = await signUp(app, 'ralice', 'Ralice');
    bob = await signUp(app, 'rbob', 'Rbob');
  });
  after(async () => {
    await app?.close();
  });

  test('read receipts off: the sender sees "Delivered", never "Read"', async () => {
    await bob.page.getByRole('button', { name: 'Settings' }).first().click();
    const toggle = bob.page.getByRole('switch', { name: 'Send read receipts' });
    await visible(toggle);
    await toggle.uncheck();
    assert.equal(await toggle.isChecked(), false);
    await bob.page.goto(`${app.url}/#/`);
    await visible(bob.page.getByRole('list', { name: 'Chats' }), 30_000);

    await startChat(alice, 'rbob');
    await send(alice, 'Did you read this?');
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText(/alice/i), 30_000);
    await openChat(bob, /alice/i);
    await visible(message(bob, 'Did you read this?'), 30_000);
    const mine = message(alice, 'Did you read this?');
    await visible(mine.getByRole('img', { name: 'Delivered' }), 30_000);
    // Bob read it and answers; his answer reaches Alice after anything he sent before it.
    await send(bob, 'Yes, quietly');
    await visible(message(alice, 'Yes, quietly'), 30_000);
    await alice.page.waitForTimeout(1500);
    await visible(mine.getByRole('img', { name: 'Delivered' }));
    assert.equal(await mine.getByRole('img', { name: 'Read' }).count(), 0);
  });

  test('a slow download shows its progress bar, then the file', async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024, 9);
    const chooser = alice.page.waitForEvent('filechooser');
    await alice.page.getByRole('button', { name: 'Attach' }).click();
    await (await chooser).setFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await visible(message(bob, 'big.bin'), 60_000);

    const cdp = await bob.context.newCDPSession(bob.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 20,
      downloadThroughput: 1024 * 1024,
      uploadThroughput: -1,
    });
    const download = bob.page.waitForEvent('download', { timeout: 60_000 });
    await message(bob, 'big.bin').getByRole('button', { name: 'Download' }).click();
    const bar = bob.page.getByRole('progressbar', { name: 'Downloading big.bin' });
    await visible(bar);
    await gone(bar, 60_000);
    const file = await download;
    assert.equal(file.suggestedFilename(), 'big.bin');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
  });
});
