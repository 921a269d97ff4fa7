/**
 * Consent and anti-scam in Chromium (issue 6): the rules in Settings; a stranger's first message
 * as a message request with its context card, the on-device scam warning, blurred media and dead
 * links; block and report with franking; the card telling the next person that the account was
 * reported; a group invitation with its safety overview; every call rule × contact or stranger
 * (ring, call request, refused) with the callee's candidates never reaching a stranger who does
 * not ring through; silenced unknown callers; a stranger's call on the relay only, with the scam
 * banner and the screen-share warning; the operator's warning, suspension, appeal and lifting;
 * and the new-account limit on reaching strangers, hit and lifted.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { loadConfig, type RunningServer, runModerationCommand, splitModerationArgs } from '@kolokol/server';
import type { Page } from 'playwright-core';
import {
  addContact,
  assertMediaFlows,
  type CallRig,
  callPerson,
  endCalls,
  startCallRig,
  stats,
  waitFor,
} from './call-helpers.ts';
import {
  gone,
  hasChromium,
  message,
  openChat,
  type Person,
  send,
  shotBoth,
  startChat,
  visible,
} from './helpers.ts';

const SCAM =
  'Здравствуйте, служба безопасности Сбербанка. По вашей карте подозрительная операция. Срочно назовите код из СМС и переведите деньги на безопасный счёт.';

/** `kolokol-server reports|appeals|suspension|limits …` on the server's data folder, as an operator. */
function admin(dataDir: string, ...words: string[]): Promise<string> {
  const args = splitModerationArgs([...words, '--data', dataDir]);
  return runModerationCommand(loadConfig(args.rest, {}), args);
}

async function goTo(p: Person, hash: string): Promise<void> {
  await p.page.evaluate((h) => {
    location.hash = h;
  }, hash);
}

/** Sets one rule in Settings → Who can reach me, and waits until the app shows it as saved. */
async function setRule(
  p: Person,
  legend: string,
  choice: 'Everybody' | 'My contacts' | 'Nobody',
): Promise<void> {
  await goTo(p, '#/settings');
  const radio = p.page.getByRole('group', { name: legend }).getByRole('radio', { name: choice, exact: true });
  await radio.click();
  await waitFor(`${legend}: ${choice}`, () => radio.isChecked());
  await goTo(p, '#/');
}

async function setSwitch(p: Person, label: string, on: boolean): Promise<void> {
  await goTo(p, '#/settings');
  const sw = p.page.getByRole('switch', { name: label });
  if ((await sw.isChecked()) !== on) await sw.click();
  await waitFor(`${label} ${on}`, async () => (await sw.isChecked()) === on);
  await goTo(p, '#/');
}

/** Marks the page the moment an incoming-call dialog shows, however briefly. */
async function watchRing(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as { __rang?: boolean; __ringWatch?: MutationObserver };
    w.__rang = false;
    w.__ringWatch?.disconnect();
    w.__ringWatch = new MutationObserver(() => {
      if (document.querySelector('.call-incoming') !== null) w.__rang = true;
    });
    w.__ringWatch.observe(document.body, { childList: true, subtree: true });
  });
}

const rang = (page: Page) => page.evaluate(() => (globalThis as { __rang?: boolean }).__rang === true);

describe('consent and anti-scam in Chromium', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let rig: CallRig;
  let server: RunningServer;
  let dataDir: string;
  let bob: Person;
  let alice: Person;
  let mallory: Person;
  let carol: Person;

  before(async () => {
    rig = await startCallRig('consent', {
      // Notices (warning, suspension, lifting) reach the devices within a poll of the database.
      server: { moderation: { noticePollMs: 300, strangersPerDay: 100 } },
      browserArgs: ['--auto-select-desktop-capture-source=Entire screen'],
    });
    ({ server, dataDir } = rig);
    const person = (u: string, name: string) => callPerson(rig.browser, server.url, u, name);
    bob = await person('bob', 'Bob');
    alice = await person('alice', 'Alice');
    mallory = await person('mallory', 'Sberbank Security');
    carol = await person('carol', 'Carol');
    await addContact(bob, 'alice');
  });
  afterEach(async () => {
    await endCalls([alice, bob, carol, mallory]);
  });
  after(async () => {
    await rig?.close();
  });

  test('rules set in Settings stay after a reload', async () => {
    await setRule(bob, 'Who can message me', 'My contacts');
    await bob.page.reload();
    await visible(bob.page.getByRole('list', { name: 'Chats' }), 30_000);
    await goTo(bob, '#/settings');
    const radio = bob.page
      .getByRole('group', { name: 'Who can message me' })
      .getByRole('radio', { name: 'My contacts', exact: true });
    await waitFor('the rule after a reload', () => radio.isChecked());
    await bob.page.getByRole('heading', { name: 'Who can reach me' }).scrollIntoViewIfNeeded();
    await shotBoth(bob.page, 'settings-rules');
    await goTo(bob, '#/');
  });

  test('a contact writes straight in; a stranger waits as a request with a context card and a scam warning', async () => {
    await startChat(alice, 'bob');
    await send(alice, 'Hi Bob, lunch tomorrow?');
    const chats = bob.page.getByRole('list', { name: 'Chats' });
    await visible(chats.getByRole('link').filter({ hasText: /Alice/ }), 30_000);

    await startChat(mallory, 'bob');
    await send(mallory, SCAM);
    await send(mallory, 'Details: https://sberbank-secure.example/verify');
    await mallory.page
      .locator('.chat input[type="file"]')
      .first()
      .setInputFiles({
        name: 'card.png',
        mimeType: 'image/png',
        buffer: Buffer.from(
          'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAEklEQVR4nGP4z8DwHwyBNAMDAEHqA/1Gmw9lAAAAAElFTkSuQmCC',
          'base64',
        ),
      });

    // The request shows as a count beside the chats, never as a chat.
    const row = bob.page.locator('a.requests-row');
    await visible(row, 30_000);
    assert.equal(
      await chats
        .getByRole('link')
        .filter({ hasText: /Sberbank|mallory/ })
        .count(),
      0,
    );
    await row.click();
    const list = bob.page.getByRole('region', { name: 'Requests' });
    await visible(list);
    await list.getByRole('link', { name: /Sberbank Security/ }).click();

    const view = bob.page.locator('section.request');
    await visible(view.getByRole('heading', { name: 'Message request from Sberbank Security' }));
    await visible(view.locator('[data-fact="age"]').filter({ hasText: 'Account created today' }));
    await visible(view.locator('[data-fact="groups"]').filter({ hasText: 'No groups in common' }));
    await visible(
      view.locator('[data-fact="reported"]').filter({ hasText: 'Nobody has reported this account' }),
    );
    // The on-device classifier read the first messages and says why.
    const warning = view.locator('[data-scam="likely"]');
    await visible(warning);
    assert.match((await warning.textContent()) ?? '', /code from an SMS/);
    // Texts are shown as plain text: the link is not a link; the picture is blurred.
    const msgs = view.locator('.request-messages');
    await visible(msgs.getByText(/sberbank-secure\.example/), 30_000);
    assert.equal(await msgs.locator('a').count(), 0, 'no clickable link in a request');
    const img = msgs.locator('img[data-blurred]');
    await visible(img, 30_000);
    assert.match(await img.evaluate((el) => getComputedStyle(el).filter), /blur/);
    await shotBoth(bob.page, 'request-card');

    // Block and report: the report carries the franked messages, the operator sees it.
    await view.getByRole('button', { name: 'Block and report' }).click();
    const dialog = bob.page.getByRole('dialog', { name: /Report Sberbank Security/ });
    await visible(dialog);
    assert.ok(await dialog.getByRole('radio', { name: 'Scam or fraud' }).isChecked(), 'scam preselected');
    await dialog.getByLabel('Comment (optional)').fill('pretends to be my bank');
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await visible(bob.page.getByText('Report sent to the server’s moderators.'));
    await visible(bob.page.getByRole('region', { name: 'Requests' }).getByText('No message requests.'));
    const queue = await admin(dataDir, 'reports', 'list');
    assert.match(queue, /open reports: 1/);
    assert.match(queue, /mallory/);
    assert.match(queue, /scam/);
    await goTo(bob, '#/');
  });

  test('the next person sees that the account was reported, and accepting shows the chat', async () => {
    await setRule(carol, 'Who can message me', 'My contacts');
    await startChat(mallory, 'carol');
    await send(mallory, 'Hello Carol, a quick question about your order');
    const row = carol.page.locator('a.requests-row');
    await visible(row, 30_000);
    await row.click();
    await carol.page
      .getByRole('region', { name: 'Requests' })
      .getByRole('link', { name: /Sberbank Security/ })
      .click();
    const view = carol.page.locator('section.request');
    await visible(
      view.locator('[data-fact="reported"]').filter({ hasText: 'Someone reported this account recently' }),
    );
    await view.getByRole('button', { name: 'Accept' }).click();
    await visible(carol.page.getByRole('region', { name: /Sberbank Security/ }), 30_000);
    await visible(message(carol, 'a quick question about your order'), 30_000);
    await gone(carol.page.locator('a.requests-row'));
  });

  test('a group from a non-contact arrives as an invitation with a safety overview', async () => {
    await setRule(bob, 'Who can add me to groups', 'My contacts');
    await carol.page.getByRole('button', { name: 'New group' }).click();
    const dialog = carol.page.getByRole('dialog');
    await dialog.getByLabel('Group name').fill('Book club');
    await dialog.getByLabel('Members').fill('bob, alice');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(carol.page.getByRole('region', { name: 'Book club' }), 30_000);
    await send(carol, 'Welcome to the book club');

    const row = bob.page.locator('a.requests-row');
    await visible(row, 30_000);
    assert.equal(await bob.page.getByRole('list', { name: 'Chats' }).getByText('Book club').count(), 0);
    await row.click();
    await bob.page
      .getByRole('region', { name: 'Requests' })
      .getByRole('link', { name: /Group invitation from Carol/ })
      .click();
    const view = bob.page.locator('section.request[data-request="group"]');
    const overview = view.locator('[data-overview]');
    await visible(overview.getByText('Created by @carol'));
    await visible(overview.getByText('You were added by @carol'));
    await visible(overview.getByText('3 members'));
    await shotBoth(bob.page, 'group-invitation');
    await view.getByRole('button', { name: 'Accept' }).click();
    await visible(bob.page.getByRole('region', { name: 'Book club' }), 30_000);
    await visible(message(bob, 'Welcome to the book club'), 30_000);
  });

  const CALLS: {
    rule: 'Everybody' | 'My contacts' | 'Nobody';
    contact: 'ring' | 'request' | 'refuse';
    stranger: 'ring' | 'request' | 'refuse';
  }[] = [
    { rule: 'Everybody', contact: 'ring', stranger: 'ring' },
    { rule: 'My contacts', contact: 'ring', stranger: 'request' },
    { rule: 'Nobody', contact: 'request', stranger: 'refuse' },
  ];

  /** `caller` calls bob; bob's device either rings (and declines) or lists a call request. */
  async function callBob(caller: Person, expected: 'ring' | 'request' | 'refuse' | 'silence'): Promise<void> {
    await goTo(bob, '#/');
    await watchRing(bob.page);
    const before = await bob.page.evaluate(() => document.querySelectorAll('[data-call-id]').length);
    await openChat(caller, /bob/i);
    await caller.page.getByRole('button', { name: 'Voice call' }).click();
    if (expected === 'ring') {
      await visible(bob.page.getByRole('alertdialog'), 30_000);
      await bob.page.getByRole('alertdialog').getByRole('button', { name: 'Decline' }).click();
      await gone(caller.page.locator('.call-panel'), 30_000);
      return;
    }
    await goTo(bob, '#/requests');
    const entries = bob.page.locator(`[data-call-id][data-admission="${expected}"]`);
    await waitFor(
      'the held-back call on the callee',
      async () => (await entries.count()) > 0 && (await bob.page.locator('[data-call-id]').count()) > before,
    );
    // It reached the callee's device, which rang nothing and answered nothing: the caller got no
    // description and no candidate of the callee's.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await rang(bob.page), false, 'the callee never rang');
    const s = await stats(caller.page);
    assert.equal(s.filter((x) => x.type === 'remote-candidate').length, 0, 'no candidate of the callee');
    await caller.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(caller.page.locator('.call-panel'));
    await goTo(bob, '#/');
  }

  test('messages from nobody: a contact waits as a request, a stranger does not reach me at all', async () => {
    const dave = await callPerson(rig.browser, server.url, 'dave', 'Dave');
    const erin = await callPerson(rig.browser, server.url, 'erin', 'Erin');
    await addContact(bob, 'dave');
    await setRule(bob, 'Who can message me', 'Nobody');
    await startChat(erin, 'bob');
    await send(erin, 'Erin here, a stranger');
    await startChat(dave, 'bob');
    await send(dave, 'Dave here, your contact');
    // Dave's request shows; by then Erin's message, sent first, has been decided too.
    await goTo(bob, '#/requests');
    const list = bob.page.getByRole('region', { name: 'Requests' });
    await visible(list.getByRole('link', { name: /Dave/ }), 30_000);
    assert.equal(
      await list.getByRole('link', { name: /Erin/ }).count(),
      0,
      'a stranger is refused, not a request',
    );
    const chats = bob.page.getByRole('list', { name: 'Chats' });
    assert.equal(
      await chats
        .getByRole('link')
        .filter({ hasText: /Erin|Dave/ })
        .count(),
      0,
    );
    await list.getByRole('link', { name: /Dave/ }).click();
    await bob.page.locator('section.request').getByRole('button', { name: 'Accept' }).click();
    await visible(message(bob, 'Dave here, your contact'), 30_000);
    await goTo(bob, '#/');
    await Promise.all([dave.context.close(), erin.context.close()]);
  });

  test('with messages from everybody, a stranger writes straight in', async () => {
    await setRule(bob, 'Who can message me', 'Everybody');
    await startChat(carol, 'bob');
    await send(carol, 'Hi Bob, Carol from the book club');
    await visible(
      bob.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /Carol/ }),
      30_000,
    );
    await gone(bob.page.locator('a.requests-row'));
  });

  for (const c of CALLS) {
    test(`calls rule "${c.rule}": a contact -> ${c.contact}, a stranger -> ${c.stranger}`, async () => {
      await setRule(bob, 'Who can call me', c.rule);
      await callBob(alice, c.contact);
      await callBob(carol, c.stranger);
    });
  }

  test('a call request accepted lets the caller ring next time; silenced unknown callers never ring', async () => {
    await setRule(bob, 'Who can call me', 'My contacts');
    await callBob(carol, 'request');
    await goTo(bob, '#/requests');
    const pending = bob.page.locator('[data-call-id][data-admission="request"]').first();
    await pending.getByRole('button', { name: 'Allow calls' }).click();
    await visible(pending.getByText('allowed'));
    await shotBoth(bob.page, 'requests-list');
    await callBob(carol, 'ring');
    await setRule(bob, 'Who can call me', 'Everybody');
    await setSwitch(bob, 'Silence unknown callers', true);
    // A contact still rings, and so does a stranger on the always-allow list; one who is not on
    // it is silenced: logged, no ring.
    await callBob(alice, 'ring');
    await callBob(carol, 'ring');
    await goTo(bob, '#/settings');
    const allow = bob.page.getByRole('group', { name: 'Who can call me' });
    await allow.getByRole('button', { name: 'Remove @carol' }).click();
    await gone(allow.getByRole('button', { name: 'Remove @carol' }));
    await callBob(carol, 'silence');
    await setSwitch(bob, 'Silence unknown callers', false);
  });

  test("a stranger's call rings through the relay only, with the scam banner and a screen-share warning", async () => {
    await setRule(bob, 'Who can call me', 'Everybody');
    await openChat(carol, /bob/i);
    await carol.page.getByRole('button', { name: 'Video call' }).click();
    await visible(bob.page.getByRole('alertdialog'), 30_000);
    await visible(bob.page.getByRole('alertdialog').getByText('Not in your contacts'));
    await bob.page.getByRole('alertdialog').getByRole('button', { name: 'Accept' }).click();
    // Bob's p2p rule (contacts) keeps his address from a stranger: his end is a TURN relay.
    await assertMediaFlows(bob.page, { video: true, route: 'relay' });
    const banner = bob.page.locator('[data-stranger-call]');
    await visible(banner);
    assert.match((await banner.textContent()) ?? '', /Never tell anyone a code/);
    await bob.page.getByRole('button', { name: 'Share screen' }).click();
    const confirm = bob.page.getByRole('dialog', {
      name: /Share your screen with someone not in your contacts/,
    });
    await visible(confirm);
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await gone(confirm);
    assert.equal(
      await bob.page.getByRole('button', { name: 'Share screen' }).getAttribute('aria-pressed'),
      'false',
      'nothing shared without confirming',
    );
    // Alice is a contact: no banner in a call with her.
    await bob.page.getByRole('button', { name: 'Hang up' }).click();
    await gone(bob.page.locator('.call-panel'), 30_000);
  });

  test('the operator warns, suspends, reads the appeal and lifts; the app follows each step', async () => {
    // Carol reports Mallory's message from the chat's message menu.
    await openChat(carol, /Sberbank Security/);
    const msg = message(carol, 'a quick question about your order');
    await msg.hover();
    await msg.getByRole('button', { name: 'Message actions' }).click();
    await carol.page.getByRole('menuitem', { name: 'Report' }).click();
    const dialog = carol.page.getByRole('dialog', { name: /Report Sberbank Security/ });
    await dialog.getByRole('radio', { name: 'Spam' }).check();
    await dialog.getByRole('checkbox', { name: /Also block/ }).uncheck();
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await visible(carol.page.getByText('Report sent to the server’s moderators.'));

    const ids = [...(await admin(dataDir, 'reports', 'list')).matchAll(/^(\S+) .*mallory/gm)].map(
      (x) => x[1],
    );
    assert.equal(ids.length, 2, 'two open reports about mallory');
    const [first, second] = ids as [string, string];
    await admin(dataDir, 'reports', 'resolve', second, '--warn', '--reason', 'no unsolicited offers');
    const warning = mallory.page.getByRole('dialog', { name: 'A warning from the moderators' });
    await visible(warning, 30_000);
    await visible(warning.getByText('no unsolicited offers'));
    await warning.getByRole('button', { name: 'OK' }).click();

    await admin(dataDir, 'reports', 'resolve', first, '--suspend', '--reason', 'bank impersonation');
    const page = mallory.page.getByRole('region', { name: 'Your account is suspended' });
    await visible(page, 30_000);
    await visible(page.getByText('bank impersonation'));
    await page.getByLabel(/Appeal/).fill('That was my cousin, sorry');
    await page.getByRole('button', { name: 'Send appeal' }).click();
    await visible(page.getByText('Your appeal was sent.'));
    await shotBoth(mallory.page, 'suspended');
    assert.match(await admin(dataDir, 'appeals', 'list'), /That was my cousin/);

    await admin(dataDir, 'suspension', 'lift', 'mallory');
    await visible(mallory.page.getByRole('list', { name: 'Chats' }), 40_000);
    await visible(mallory.page.getByText('Your account is active again.'), 10_000);
  });
});

describe('the new-account limit on strangers in Chromium', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let rig: CallRig;

  before(async () => {
    rig = await startCallRig('limit', { server: { moderation: { strangersPerDay: 1, newAccountDays: 7 } } });
  });
  after(async () => {
    await rig?.close();
  });

  test('hit: a clear error names the limit; lifted by the operator: the chat opens', async () => {
    const { browser, server, dataDir } = rig;
    const newbie = await callPerson(browser, server.url, 'newbie', 'Newbie');
    await callPerson(browser, server.url, 'uma', 'Uma');
    await callPerson(browser, server.url, 'vic', 'Vic');
    await startChat(newbie, 'uma');
    await newbie.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = newbie.page.getByRole('dialog');
    await dialog.getByLabel('Username').fill('vic');
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await visible(dialog.getByText(/New accounts may start chats with at most 1 people a day/), 30_000);
    await dialog.getByRole('button', { name: 'Close' }).click();

    assert.match(await admin(dataDir, 'limits', 'lift', 'newbie'), /lifted/);
    await startChat(newbie, 'vic');
  });
});
