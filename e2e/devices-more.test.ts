/**
 * No device is primary: a linked browser removes the one it was linked from and carries on alone.
 * And a changed safety number: when the server shows another identity key for a contact (a
 * reinstalled account, or a server that lies), the chat says so and the verification is cleared.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser } from 'playwright-core';
import { ensureWebApp } from '../scripts/webapp.ts';
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
  startChat,
  visible,
} from './helpers.ts';

describe('devices and safety numbers, more', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  // Our own server rather than startApp(): the safety-number test edits its database.
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-devmore-'));
  let server: RunningServer;
  let browser: Browser;
  let app: App;
  let dana: Person;
  let eve: Person;
  let laptop: Person;

  before(async () => {
    ensureWebApp();
    server = await startServer({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent' });
    browser = await launchChromium();
    app = { url: server.url, browser, close: async () => {} };
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the linked browser removes the original one and goes on alone', async () => {
    dana = await signUp(app, 'dana', 'Dana');
    eve = await signUp(app, 'eve', 'Eve');
    await startChat(dana, 'eve');
    await send(dana, 'Hi Eve, from my first browser');
    await visible(message(dana, 'Hi Eve, from my first browser'));

    await dana.page.getByRole('button', { name: 'Devices' }).click();
    await dana.page.getByRole('button', { name: 'Link a device' }).click();
    const dialog = dana.page.getByRole('dialog', { name: 'Link a device' });
    const code = ((await dialog.getByTestId('link-code').textContent()) ?? '').trim();
    const second = await openPerson(app);
    await second.page.getByRole('tab', { name: 'Link this browser' }).click();
    await second.page.getByLabel('Link code').fill(code);
    await second.page.getByRole('button', { name: 'Link this browser' }).click();
    await visible(second.page.getByRole('list', { name: 'Chats' }), 60_000);
    laptop = { username: 'dana', ...second };
    await dialog.getByRole('button', { name: 'Close' }).click();
    await visible(
      laptop.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /eve/i }),
      60_000,
    );

    // The laptop, linked a minute ago, removes the browser the account was created on.
    await laptop.page.getByRole('button', { name: 'Devices' }).click();
    const list = laptop.page.getByRole('list', { name: 'Devices' });
    await visible(list.getByRole('listitem').nth(1), 30_000);
    await visible(list.getByRole('listitem').filter({ hasText: 'This device' }));
    await list.getByRole('button', { name: /^Remove/ }).click();
    await laptop.page
      .getByRole('dialog')
      .getByRole('button', { name: /^Remove/ })
      .click();
    await gone(list.getByRole('listitem').nth(1), 30_000);
    assert.equal(await list.getByRole('listitem').count(), 1);
    await visible(list.getByRole('listitem').filter({ hasText: 'This device' }));
    await visible(dana.page.getByText('This browser was removed from your account'), 30_000);

    // The account lives on in the laptop alone: it reads and writes.
    await openChat(eve, /dana/i);
    await send(eve, 'Are you still there, Dana?');
    await openChat(laptop, /eve/i);
    await visible(message(laptop, 'Are you still there, Dana?'), 60_000);
    await send(laptop, 'Yes, on the laptop now');
    await visible(message(eve, 'Yes, on the laptop now'), 30_000);
    // And it can link a new browser itself.
    await laptop.page.getByRole('button', { name: 'Devices' }).click();
    await laptop.page.getByRole('button', { name: 'Link a device' }).click();
    const again = laptop.page.getByRole('dialog', { name: 'Link a device' });
    assert.match(
      ((await again.getByTestId('link-code').textContent()) ?? '').trim(),
      /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    );
    await again.getByRole('button', { name: 'Close' }).click();
    await dana.context.close();
  });

  test('a changed safety number is announced in the chat and clears the verification', async () => {
    // Eve verifies Dana.
    await openChat(eve, /dana/i);
    await eve.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    await visible(eve.page.getByRole('list', { name: 'Safety number digits' }), 30_000);
    const before = (await eve.page.getByRole('list', { name: 'Safety number digits' }).textContent()) ?? '';
    await eve.page.getByRole('button', { name: 'Mark as verified' }).click();
    await visible(eve.page.getByText('You verified'));
    await openChat(eve, /dana/i);
    await visible(eve.page.getByRole('link', { name: 'Verified' }));

    // The server now hands out another identity key for Dana, as it would after she reinstalled
    // (or if it were lying): Eve's browser pinned the old one.
    const db = new DatabaseSync(join(dataDir, 'kolokol.db'));
    try {
      const row = db.prepare('select user_id from accounts where username = ?').get('dana');
      assert.ok(row !== undefined, 'no account row for dana');
      db.prepare('update accounts set identity_key = ? where user_id = ?').run(
        randomBytes(32).toString('base64url'),
        String(row.user_id),
      );
    } finally {
      db.close();
    }
    // Eve looks at the safety number again: her browser fetches the key and sees the change.
    await eve.page.getByRole('link', { name: 'Verified' }).click();
    await visible(
      eve.page.getByRole('alert').filter({ hasText: /^Safety number with Dana changed$/ }),
      30_000,
    );
    await visible(eve.page.getByText('You have not verified Dana yet.'), 30_000);
    const after = (await eve.page.getByRole('list', { name: 'Safety number digits' }).textContent()) ?? '';
    assert.notEqual(after.replace(/\s/g, ''), before.replace(/\s/g, ''));

    await openChat(eve, /dana/i);
    await visible(
      eve.page
        .getByRole('log', { name: 'Messages' })
        .getByRole('note')
        .filter({ hasText: 'The safety number with Dana changed.' }),
      30_000,
    );
    await visible(eve.page.getByRole('link', { name: 'End-to-end encrypted' }));
    await gone(eve.page.getByRole('link', { name: 'Verified' }));
    await shotBoth(eve.page, 'safety-number-changed');
    assert.equal(
      await eve.page
        .getByRole('log', { name: 'Messages' })
        .getByRole('note')
        .filter({ hasText: 'Dana changed' })
        .count(),
      1,
    );
  });
});
