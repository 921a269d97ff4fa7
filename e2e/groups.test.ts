/**
 * Group admin in Chromium, two people on one real server: the creator is the admin, renames the
 * group inline in chat info, the other member sees the new title, and after being made an admin
 * gets the admin controls that were hidden from him.
 */
import { after, before, describe, test } from 'node:test';
import { type App, gone, hasChromium, openChat, type Person, signUp, startApp, visible } from './helpers.ts';

describe('web groups: rename and admins', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  let alice: Person;
  let bob: Person;

  before(async () => {
    app = await startApp();
    alice = await signUp(app, 'galice', 'Alice Admin');
    bob = await signUp(app, 'gbob', 'Bob Member');
  });
  after(async () => {
    await app?.close();
  });

  const info = async (p: Person) => {
    await p.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(p.page.getByRole('heading', { name: 'Members' }));
  };

  test('the creator renames the group; the other member sees the new title', async () => {
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.page.getByRole('dialog');
    await dialog.getByLabel('Group name').fill('Book club');
    await dialog.getByLabel('Members').fill('gbob');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(alice.page.getByRole('region', { name: 'Book club' }), 60_000);
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText('Book club'), 60_000);

    // Bob is no admin: no rename field, no admin or remove buttons, a note instead.
    await openChat(bob, 'Book club');
    await info(bob);
    await visible(bob.page.getByText('Only admins can rename the group'));
    await gone(bob.page.getByRole('textbox', { name: 'Group name' }));
    await gone(bob.page.getByRole('button', { name: /an admin$/ }));
    await gone(bob.page.getByRole('button', { name: /^Remove / }));

    await info(alice);
    const members = alice.page.getByRole('list').filter({ hasText: '@galice' });
    await visible(
      members.getByRole('listitem').filter({ hasText: '@galice' }).getByText('Admin', { exact: true }),
    );
    const name = alice.page.getByRole('textbox', { name: 'Group name' });
    await name.fill('Reading circle');
    await alice.page.getByRole('button', { name: 'Save' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Reading circle' }), 30_000);
    // Bob's open chat info and his chat list follow.
    await visible(bob.page.getByRole('heading', { name: 'Reading circle' }), 30_000);
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText('Reading circle'), 30_000);
  });

  test('the admin makes the other member an admin, who then gets the admin controls', async () => {
    await alice.page.getByRole('button', { name: /^Make .* an admin$/ }).click();
    await visible(alice.page.getByRole('button', { name: /^Remove .* as admin$/ }), 30_000);
    const bobRow = bob.page.getByRole('listitem').filter({ hasText: '@gbob' });
    await visible(bobRow.getByText('Admin', { exact: true }), 30_000);
    await visible(bob.page.getByRole('textbox', { name: 'Group name' }), 30_000);
    await visible(bob.page.getByRole('button', { name: /^Remove .* as admin$/ }));
    await visible(bob.page.getByText('Admins can rename the group'));
  });
});
