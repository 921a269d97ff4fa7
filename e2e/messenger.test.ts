/**
 * The messenger in Chromium, three people on one real server: sign-up, 1:1 chat, a group, an
 * attachment with its progress bar, safety-number verification, offline-then-online delivery,
 * and screenshots of the main screens in both themes.
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
  shotBoth,
  signUp,
  startApp,
  startChat,
  visible,
} from './helpers.ts';

describe('web messenger', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
  let app: App;
  let alice: Person;
  let bob: Person;
  let carol: Person;

  before(async () => {
    app = await startApp();
  });
  after(async () => {
    await app?.close();
  });

  test('creates accounts in the browser', async () => {
    const { openPerson } = await import('./helpers.ts');
    const first = await openPerson(app);
    await visible(first.page.getByRole('button', { name: 'Create account' }));
    await shotBoth(first.page, 'onboarding');
    await first.context.close();
    alice = await signUp(app, 'alice', 'Alice Liddell');
    bob = await signUp(app, 'bob', 'Bob Builder');
    carol = await signUp(app, 'carol', 'Carol');
    await shotBoth(alice.page, 'chat-list-empty');
  });

  test('1:1 chat: send, receive, reply both ways, unread count', async () => {
    await startChat(alice, 'bob');
    await send(alice, 'Hello Bob, this is Alice');
    await visible(message(alice, 'Hello Bob, this is Alice'));
    // Bob is on his chat list: the new chat shows up with an unread badge.
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText('1 unread message'), 30_000);
    await openChat(bob, /alice/i);
    await visible(message(bob, 'Hello Bob, this is Alice'));
    await send(bob, 'Hi Alice! Bob here');
    await visible(message(alice, 'Hi Alice! Bob here'), 30_000);
    // Every chat says it is end-to-end encrypted.
    await visible(alice.page.getByRole('link', { name: 'End-to-end encrypted' }));
    await shotBoth(alice.page, 'chat');
  });

  test('replies, reactions, edits, deletes, receipts, typing and search', async () => {
    const { page } = alice;
    await openChat(bob, /alice/i);
    // Read receipt: Bob has the chat open, so Alice's message turns "Read".
    await send(alice, 'Is the tea ready?');
    await visible(message(bob, 'Is the tea ready?'), 30_000);
    await visible(message(alice, 'Is the tea ready?').getByRole('img', { name: 'Read' }), 30_000);
    // Typing indicator.
    await bob.page.getByLabel('Message', { exact: true }).fill('Almost');
    await visible(page.getByText('is typing…'), 30_000);
    // Reply.
    await message(bob, 'Is the tea ready?').getByRole('button', { name: 'Message actions' }).click();
    await bob.page.getByRole('menuitem', { name: 'Reply' }).click();
    await bob.page.getByLabel('Message', { exact: true }).fill('Almost, two minutes');
    await bob.page.getByRole('button', { name: 'Send' }).click();
    const reply = message(alice, 'Almost, two minutes');
    await visible(reply, 30_000);
    await visible(reply.getByRole('button', { name: /^Reply to/ }));
    // Reaction.
    await reply.getByRole('button', { name: 'Message actions' }).click();
    await page.getByRole('menuitem', { name: 'React with 👍' }).click();
    await visible(message(bob, 'Almost, two minutes').getByRole('button', { name: '👍 1' }), 30_000);
    // Edit.
    await send(alice, 'See you at fiev');
    await message(alice, 'See you at fiev').getByRole('button', { name: 'Message actions' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    await page.getByLabel('Message', { exact: true }).fill('See you at five');
    await page.keyboard.press('Enter');
    await visible(message(bob, 'See you at five'), 30_000);
    await visible(message(bob, 'See you at five').getByText('edited'));
    // Delete for everyone.
    await send(alice, 'Oops, wrong chat');
    await visible(message(bob, 'Oops, wrong chat'), 30_000);
    await message(alice, 'Oops, wrong chat').getByRole('button', { name: 'Message actions' }).click();
    await page.getByRole('menuitem', { name: 'Delete for everyone' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete for everyone' }).click();
    await gone(message(bob, 'Oops, wrong chat'), 30_000);
    await visible(message(bob, 'This message was deleted.'));
    // Search within the loaded history.
    await page.getByRole('button', { name: 'Search in this chat' }).click();
    await page.getByLabel('Find in messages').fill('tea');
    await visible(page.getByRole('status').filter({ hasText: '1 match' }));
    await shotBoth(page, 'chat-rich');
    await page.keyboard.press('Escape');
  });

  test('a group with three people', async () => {
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.page.getByRole('dialog');
    await dialog.getByLabel('Group name').fill('Tea party');
    await dialog.getByLabel('Members').fill('bob, carol');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(alice.page.getByRole('region', { name: 'Tea party' }), 60_000);
    await send(alice, 'Welcome to the tea party');
    await visible(message(alice, 'Welcome to the tea party'));
    for (const p of [bob, carol]) {
      await visible(p.page.getByRole('list', { name: 'Chats' }).getByText('Tea party'), 60_000);
      await openChat(p, 'Tea party');
      await visible(message(p, 'Welcome to the tea party'), 30_000);
    }
    await send(carol, 'Thanks for having me');
    await visible(message(alice, 'Thanks for having me'), 30_000);
    await visible(message(bob, 'Thanks for having me'), 30_000);
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Members' }));
    await shotBoth(alice.page, 'group-info');
    await alice.page.getByRole('button', { name: 'Back' }).first().click();
  });

  test('an attachment shows upload progress and arrives', async () => {
    await openChat(alice, /bob/i);
    // Slow uploads down so the progress bar is there long enough to see.
    const cdp = await alice.context.newCDPSession(alice.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 20,
      downloadThroughput: -1,
      uploadThroughput: 2 * 1024 * 1024,
    });
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
    const chooser = alice.page.waitForEvent('filechooser');
    await alice.page.getByRole('button', { name: 'Attach' }).click();
    await (await chooser).setFiles({
      name: 'report.bin',
      mimeType: 'application/octet-stream',
      buffer: bytes,
    });
    const bar = alice.page.getByRole('progressbar', { name: 'Sending report.bin' });
    await visible(bar);
    // Its screenshot, in both themes, is taken by messenger-more.test.ts on a slower upload.
    await gone(bar, 60_000);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await visible(message(alice, 'report.bin'));
    await openChat(bob, /alice/i);
    await visible(message(bob, 'report.bin'), 30_000);
    const download = bob.page.waitForEvent('download');
    await message(bob, 'report.bin').getByRole('button', { name: 'Download' }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), 'report.bin');
  });

  test('a voice note recorded in the browser', async () => {
    await alice.context.grantPermissions(['microphone']);
    await alice.page.getByRole('button', { name: 'Record voice note' }).click();
    await visible(alice.page.getByText(/^Recording /));
    await alice.page.waitForTimeout(1200);
    await alice.page.getByRole('button', { name: 'Stop and send' }).click();
    await visible(message(bob, 'Voice note'), 30_000);
  });

  test('safety numbers match on both sides and can be verified by code', async () => {
    await openChat(alice, /bob/i);
    await alice.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    const aliceDigits =
      (await alice.page.getByRole('list', { name: 'Safety number digits' }).textContent()) ?? '';
    await openChat(bob, /alice/i);
    await bob.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    const bobDigits =
      (await bob.page.getByRole('list', { name: 'Safety number digits' }).textContent()) ?? '';
    assert.equal(aliceDigits.replace(/\s/g, ''), bobDigits.replace(/\s/g, ''));
    assert.equal(aliceDigits.replace(/\s/g, '').length, 60);
    await shotBoth(alice.page, 'safety-number');
    // Bob "scans" Alice's code: the same payload her QR holds, pasted.
    await alice.page.getByText('Show my code as text').click();
    const payload = ((await alice.page.getByTestId('safety-payload').textContent()) ?? '').trim();
    await bob.page.getByLabel('Or paste their code').fill(payload);
    await bob.page.getByRole('button', { name: 'Check' }).click();
    await visible(bob.page.getByText('The codes match.'));
    await openChat(bob, /alice/i);
    await visible(bob.page.getByRole('link', { name: 'Verified' }));
    // Alice compares the digits aloud and marks Bob verified by hand.
    await alice.page.getByRole('button', { name: 'Mark as verified' }).click();
    await visible(alice.page.getByText('You verified'));
  });

  test('a message written offline is delivered when the connection is back', async () => {
    await openChat(alice, /bob/i);
    await alice.context.setOffline(true);
    await visible(alice.page.getByText('Offline.'), 30_000);
    await send(alice, 'Written on the train');
    await visible(message(alice, 'Written on the train').getByRole('img', { name: 'Sending' }));
    await shotBoth(alice.page, 'offline');
    await alice.context.setOffline(false);
    await visible(message(bob, 'Written on the train'), 60_000);
    await gone(message(alice, 'Written on the train').getByRole('img', { name: 'Sending' }), 30_000);
  });

  test('a draft is kept when switching chats', async () => {
    await openChat(alice, /bob/i);
    await alice.page.getByLabel('Message', { exact: true }).fill('half-written thought');
    await openChat(alice, 'Tea party');
    await visible(alice.page.getByRole('list', { name: 'Chats' }).getByText('half-written thought'));
    await openChat(alice, /bob/i);
    assert.equal(
      await alice.page.getByLabel('Message', { exact: true }).inputValue(),
      'half-written thought',
    );
    await alice.page.getByLabel('Message', { exact: true }).fill('');
  });

  test('settings, devices and a phone-sized screen', async () => {
    await alice.page.getByRole('button', { name: 'Settings' }).first().click();
    await visible(alice.page.getByRole('heading', { name: 'Settings' }));
    await shotBoth(alice.page, 'settings');
    await alice.page.getByRole('button', { name: 'Devices' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Devices' }));
    await visible(alice.page.getByText('This device'));
    await shotBoth(alice.page, 'devices');
    await alice.page.setViewportSize({ width: 360, height: 740 });
    await alice.page.goto(`${app.url}/#/`);
    await visible(alice.page.getByRole('list', { name: 'Chats' }));
    await shotBoth(alice.page, 'mobile-chat-list');
    await openChat(alice, /bob/i);
    await shotBoth(alice.page, 'mobile-chat');
    await visible(alice.page.getByRole('button', { name: 'Back' }));
  });

  test('log out, and delete an account', async () => {
    await bob.page.getByRole('button', { name: 'Settings' }).first().click();
    await bob.page.getByRole('button', { name: 'Log out' }).click();
    await bob.page.getByRole('dialog').getByRole('button', { name: 'Log out' }).click();
    await visible(bob.page.getByRole('button', { name: 'Create account' }), 30_000);

    await carol.page.getByRole('button', { name: 'Settings' }).first().click();
    await carol.page.getByRole('button', { name: 'Delete account' }).click();
    const dialog = carol.page.getByRole('dialog');
    await dialog.getByLabel('Type your username').fill('carol');
    await dialog.getByRole('button', { name: 'Delete account' }).click();
    await visible(carol.page.getByRole('button', { name: 'Create account' }), 30_000);
  });
});
