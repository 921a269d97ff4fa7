/**
 * Accessibility in Chromium: axe-core on every main screen of the web app, in the light and the
 * dark theme, fails on any violation of impact serious or critical; and a keyboard-only walk
 * (sign up, open a chat, send a message) that checks every focus stop is visible and that dialogs
 * and menus keep, return and give up focus the way a keyboard user expects.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AxeResults, ImpactValue } from 'axe-core';
import type { Page } from 'playwright-core';
import { repoRoot } from '../scripts/webapp.ts';
import {
  type App,
  gone,
  hasChromium,
  message,
  openChat,
  openPerson,
  type Person,
  send,
  signUp,
  startApp,
  startChat,
  visible,
} from './helpers.ts';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// KOLOKOL_A11Y_ALL=1 fails on moderate and minor findings as well, to see them while working.
const FAILING: readonly ImpactValue[] =
  process.env.KOLOKOL_A11Y_ALL === '1'
    ? ['minor', 'moderate', 'serious', 'critical']
    : ['serious', 'critical'];
const THEMES = ['light', 'dark'] as const;

/** Switches the system colour scheme and waits until the app has applied it. */
async function setTheme(page: Page, scheme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme: scheme });
  await page.waitForFunction((s) => document.documentElement.dataset.theme === s, scheme, {
    timeout: 5_000,
  });
}

/** The serious and critical axe violations of the page as it is now, one readable block each. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ content: AXE_SOURCE });
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: object): Promise<unknown> } }).axe;
    return axe.run({ resultTypes: ['violations'] });
  });
  const { violations: found } = results as AxeResults;
  return found
    .filter((v) => v.impact !== undefined && v.impact !== null && FAILING.includes(v.impact))
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 8)
        .map(
          (n) =>
            `      ${n.target.join(' ')}\n        ${(n.failureSummary ?? '').replace(/\n/g, '\n        ')}`,
        )
        .join('\n');
      const more = v.nodes.length > 8 ? `\n      … and ${v.nodes.length - 8} more` : '';
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes}${more}`;
    });
}

/** Audits the current screen in both themes; throws one report of everything found. */
async function audit(page: Page, screen: string): Promise<void> {
  const report: string[] = [];
  for (const scheme of THEMES) {
    await setTheme(page, scheme);
    // Let transitions settle: axe reads computed colours.
    await page.waitForTimeout(250);
    const found = await violations(page);
    if (found.length > 0) report.push(`${screen} (${scheme} theme):\n${found.join('\n')}`);
  }
  await setTheme(page, 'light');
  assert.equal(report.length, 0, `accessibility violations\n${report.join('\n\n')}`);
}

/** Runs every audit of a test and fails once at the end with all reports, not at the first. */
function auditor(): { check(page: Page, screen: string): Promise<void>; done(): void } {
  const failures: string[] = [];
  return {
    async check(page, screen) {
      try {
        await audit(page, screen);
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    },
    done() {
      assert.equal(failures.length, 0, failures.join('\n\n'));
    },
  };
}

interface Focus {
  /** The ARIA role when there is one, else the tag name. */
  role: string;
  name: string;
  /** An outline or a box-shadow is drawn around it. */
  ring: boolean;
  inDialog: boolean;
  inMenu: boolean;
}

/** What has the keyboard focus now, in the page's own words. */
function focus(page: Page): Promise<Focus> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!(el instanceof HTMLElement) || el === document.body)
      return { role: 'body', name: '', ring: false, inDialog: false, inMenu: false };
    const s = getComputedStyle(el);
    const label =
      el.getAttribute('aria-label') ??
      (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement
        ? el.labels?.[0]?.textContent
        : undefined) ??
      el.textContent ??
      '';
    return {
      role: el.getAttribute('role') ?? el.tagName.toLowerCase(),
      name: label.trim(),
      ring: (s.outlineStyle !== 'none' && Number.parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none',
      inDialog: el.closest('dialog[open]') !== null,
      inMenu: el.closest('[role="menu"]') !== null,
    };
  });
}

const show = (f: Focus) => `${f.role} "${f.name}"`;

/**
 * Presses Tab (or Shift+Tab) until the focus is on the wanted control, checking that every stop on
 * the way shows where the focus is. Fails if it never gets there.
 */
async function tabTo(
  page: Page,
  want: { name: string | RegExp; role?: string },
  o: { back?: boolean; max?: number } = {},
): Promise<number> {
  const path: string[] = [];
  for (let i = 1; i <= (o.max ?? 40); i++) {
    await page.keyboard.press(o.back === true ? 'Shift+Tab' : 'Tab');
    const f = await focus(page);
    path.push(show(f));
    assert.ok(f.ring || f.role === 'body', `no visible focus on ${show(f)} (after ${path.join(' → ')})`);
    const named = typeof want.name === 'string' ? f.name === want.name : want.name.test(f.name);
    if (named && (want.role === undefined || f.role === want.role)) return i;
  }
  assert.fail(`Tab never reached ${String(want.name)}: ${path.join(' → ')}`);
}

describe('accessibility', { skip: !hasChromium && 'no /usr/bin/chromium', concurrency: false }, () => {
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

  test('onboarding: create an account, link a browser, an invite, an error', async () => {
    const a = auditor();
    const first = await openPerson(app);
    const { page } = first;
    await visible(page.getByRole('button', { name: 'Create account' }));
    await a.check(page, 'onboarding: create account');
    await page.getByRole('tab', { name: 'Link this browser' }).click();
    await visible(page.getByRole('tabpanel'));
    await a.check(page, 'onboarding: link this browser');
    await page.goto(`${app.url}/#/u/somebody`);
    await page.reload();
    await page.getByLabel('Username').fill('no!');
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('alert'));
    await a.check(page, 'onboarding: invite and a bad username');
    await first.context.close();
    a.done();
  });

  test('chat list, new chat and new group dialogs', async () => {
    const a = auditor();
    alice = await signUp(app, 'alice', 'Alice Liddell');
    bob = await signUp(app, 'bob', 'Bob Builder');
    carol = await signUp(app, 'carol', 'Carol');
    await a.check(alice.page, 'chat list (empty)');
    await alice.page.getByRole('button', { name: 'New chat' }).click();
    await visible(alice.page.getByRole('dialog'));
    await a.check(alice.page, 'new chat dialog');
    await alice.page.keyboard.press('Escape');
    await gone(alice.page.getByRole('dialog'));
    await alice.page.getByRole('button', { name: 'New group' }).click();
    await visible(alice.page.getByRole('dialog'));
    await a.check(alice.page, 'new group dialog');
    await alice.page.keyboard.press('Escape');
    await gone(alice.page.getByRole('dialog'));
    a.done();
  });

  test('a 1:1 chat with a reply, a reaction, a file and an image', async () => {
    const a = auditor();
    await startChat(alice, 'bob');
    await send(alice, 'Hello Bob, the tea is ready');
    await openChat(bob, /alice/i);
    await visible(message(bob, 'Hello Bob, the tea is ready'), 30_000);
    await message(bob, 'Hello Bob, the tea is ready')
      .getByRole('button', { name: 'Message actions' })
      .click();
    await bob.page.getByRole('menuitem', { name: 'Reply' }).click();
    await send(bob, 'Coming, two minutes');
    await visible(message(alice, 'Coming, two minutes'), 30_000);
    await message(alice, 'Coming, two minutes').getByRole('button', { name: 'Message actions' }).click();
    await alice.page.getByRole('menuitem', { name: 'React with 👍' }).click();
    for (const file of [
      { name: 'menu.txt', mimeType: 'text/plain', buffer: Buffer.from('scones, jam, cream\n') },
      {
        name: 'teapot.png',
        mimeType: 'image/png',
        buffer: readFileSync(join(repoRoot, 'apps/web/public/icon-192.png')),
      },
    ]) {
      const chooser = alice.page.waitForEvent('filechooser');
      await alice.page.getByRole('button', { name: 'Attach' }).click();
      await (await chooser).setFiles(file);
      await visible(message(alice, file.name), 30_000);
    }
    await visible(message(bob, 'menu.txt'), 30_000);
    await visible(bob.page.getByRole('img', { name: 'teapot.png' }), 30_000);
    await visible(message(alice, 'Coming, two minutes').getByRole('button', { name: '👍 1' }));
    await a.check(alice.page, '1:1 chat (sender)');
    await a.check(bob.page, '1:1 chat (recipient)');
    await message(alice, 'Hello Bob, the tea')
      .first()
      .getByRole('button', { name: 'Message actions' })
      .click();
    await visible(alice.page.getByRole('menu'));
    await a.check(alice.page, 'message actions menu');
    await alice.page.keyboard.press('Escape');
    await alice.page.getByRole('button', { name: 'Search in this chat' }).click();
    await alice.page.getByLabel('Find in messages').fill('tea');
    await visible(alice.page.getByRole('status').filter({ hasText: /\d+ match/ }));
    await a.check(alice.page, 'find in a chat');
    await alice.page.keyboard.press('Escape');
    a.done();
  });

  test('a group chat and chat info', async () => {
    const a = auditor();
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.page.getByRole('dialog');
    await dialog.getByLabel('Group name').fill('Tea party');
    await dialog.getByLabel('Members').fill('bob, carol');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await visible(alice.page.getByRole('region', { name: 'Tea party' }), 60_000);
    await send(alice, 'Welcome to the tea party');
    for (const [p, text] of [
      [bob, 'Thank you, Alice'],
      [carol, 'Lovely to be here'],
    ] as const) {
      await visible(p.page.getByRole('list', { name: 'Chats' }).getByText('Tea party'), 60_000);
      await openChat(p, 'Tea party');
      await visible(message(p, 'Welcome to the tea party'), 30_000);
      await send(p, text);
    }
    await visible(message(alice, 'Lovely to be here'), 30_000);
    await visible(message(alice, 'Thank you, Alice'), 30_000);
    await a.check(alice.page, 'group chat');
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Members' }));
    await a.check(alice.page, 'group info (admin)');
    await bob.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(bob.page.getByRole('heading', { name: 'Members' }));
    await a.check(bob.page, 'group info (member)');
    await openChat(alice, /bob/i);
    await alice.page.getByRole('button', { name: 'Chat info' }).click();
    await visible(alice.page.getByRole('heading', { name: 'Chat info' }));
    await a.check(alice.page, '1:1 chat info');
    a.done();
  });

  test('safety number, contacts, settings, devices and linking a device', async () => {
    const a = auditor();
    const { page } = alice;
    await openChat(alice, /bob/i);
    await page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    await visible(page.getByRole('list', { name: 'Safety number digits' }));
    await a.check(page, 'safety number');
    await page.getByRole('button', { name: 'Mark as verified' }).click();
    await visible(page.getByText('You verified'));
    await openChat(alice, /bob/i);
    await visible(page.getByRole('link', { name: 'Verified' }));
    await a.check(page, '1:1 chat, verified');

    await page.getByRole('button', { name: 'Contacts' }).click();
    await page.getByLabel('Username').fill('bob');
    await page.getByRole('button', { name: 'Add contact' }).click();
    await visible(page.getByRole('list', { name: 'Contacts' }).getByText('@bob'));
    await a.check(page, 'contacts');

    await page.getByRole('button', { name: 'Settings' }).first().click();
    await visible(page.getByRole('heading', { name: 'Settings' }));
    await a.check(page, 'settings');

    await page.getByRole('button', { name: 'Devices' }).click();
    await visible(page.getByText('This device'));
    await a.check(page, 'devices');
    await page.getByRole('button', { name: 'Link a device' }).click();
    await visible(page.getByTestId('link-code'));
    await a.check(page, 'link a device');
    await page.keyboard.press('Escape');

    await page.getByRole('button', { name: 'Call history' }).click();
    await visible(page.getByRole('dialog'));
    await a.check(page, 'call history');
    await page.keyboard.press('Escape');

    await page.goto(`${app.url}/#/u/carol`);
    await visible(page.getByRole('heading', { name: /carol/ }));
    await a.check(page, 'an invite link');
    a.done();
  });

  test('the call screen: calling and an incoming call', async () => {
    const a = auditor();
    await openChat(alice, /bob/i);
    await alice.page.getByRole('button', { name: 'Video call' }).click();
    await visible(alice.page.getByRole('button', { name: 'Hang up' }), 30_000);
    await visible(bob.page.getByRole('button', { name: 'Accept' }), 30_000);
    await a.check(alice.page, 'outgoing call');
    await a.check(bob.page, 'incoming call');
    await bob.page.getByRole('button', { name: 'Decline' }).click();
    await gone(alice.page.getByRole('button', { name: 'Hang up' }), 30_000);
    a.done();
  });

  test('requests: the list, a message request with its card and scam warning, the report dialog', async () => {
    const a = auditor();
    const { page } = carol;
    await page.getByRole('button', { name: 'Settings' }).first().click();
    const radio = page
      .getByRole('group', { name: 'Who can message me' })
      .getByRole('radio', { name: 'My contacts', exact: true });
    await radio.click();
    await visible(page.locator('fieldset[data-kind="messages"] input[value="contacts"]:checked'));
    await page.getByRole('button', { name: 'Back' }).click();
    await startChat(bob, 'carol');
    await send(bob, 'Security service of your bank: tell me the code from the SMS right now');
    await page.locator('a.requests-row').click();
    await visible(page.getByRole('region', { name: 'Requests' }).getByRole('link', { name: /Bob/ }));
    await a.check(page, 'requests list');
    await page.getByRole('region', { name: 'Requests' }).getByRole('link', { name: /Bob/ }).click();
    await visible(page.locator('[data-scam]'), 30_000);
    await a.check(page, 'a message request');
    await page.getByRole('button', { name: 'Block and report' }).click();
    await visible(page.getByRole('dialog'));
    await a.check(page, 'report dialog');
    await page.keyboard.press('Escape');
    await gone(page.getByRole('dialog'));
    a.done();
  });

  test('a phone-sized screen', async () => {
    const a = auditor();
    await alice.page.setViewportSize({ width: 360, height: 740 });
    await alice.page.goto(`${app.url}/#/`);
    await visible(alice.page.getByRole('list', { name: 'Chats' }));
    await a.check(alice.page, 'phone: chat list');
    await openChat(alice, /bob/i);
    await visible(alice.page.getByRole('button', { name: 'Back' }));
    await a.check(alice.page, 'phone: chat');
    await alice.page.setViewportSize({ width: 1200, height: 800 });
    a.done();
  });

  test('keyboard only: sign up, start a chat, send a message', async () => {
    const { context, page } = await openPerson(app);
    const key = (k: string) => page.keyboard.press(k);
    await visible(page.getByRole('button', { name: 'Create account' }));
    await tabTo(page, { name: 'Username' });
    await page.keyboard.type('dora');
    await tabTo(page, { name: 'Display name' });
    await page.keyboard.type('Dora Explorer');
    await tabTo(page, { name: 'Create account', role: 'button' });
    await key('Enter');
    await visible(page.getByRole('list', { name: 'Chats' }), 30_000);

    // A dialog takes the focus, keeps it while tabbing either way, closes on Escape and gives the
    // focus back to the button that opened it.
    await tabTo(page, { name: 'New chat' });
    await key('Enter');
    await visible(page.getByRole('dialog'));
    assert.equal(show(await focus(page)), 'input "Username"', 'the dialog did not focus its field');
    for (const k of ['Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await key(k);
      const f = await focus(page);
      assert.ok(f.inDialog, `${k} left the dialog for ${show(f)}`);
      assert.ok(f.ring, `no visible focus on ${show(f)} in the dialog`);
    }
    await key('Escape');
    await gone(page.getByRole('dialog'));
    const back = await focus(page);
    assert.equal(
      show(back),
      'button "New chat"',
      'the focus did not return to the button that opened the dialog',
    );

    await key('Enter');
    await visible(page.getByRole('dialog'));
    await page.keyboard.type('bob');
    await key('Enter');
    await visible(page.getByRole('region', { name: /bob/i }), 30_000);

    await tabTo(page, { name: 'Message' }, { max: 60 });
    await page.keyboard.type('Sent with the keyboard alone');
    await key('Enter');
    const dora: Person = { username: 'dora', context, page };
    await visible(message(dora, 'Sent with the keyboard alone'));
    await visible(bob.page.getByRole('list', { name: 'Chats' }).getByText('Dora Explorer'), 30_000);

    // The message menu: opens on Enter with the focus on its first item, arrows move, Escape closes
    // it and returns the focus to its button.
    await tabTo(page, { name: 'Message actions' }, { back: true });
    await key('Enter');
    await visible(page.getByRole('menu'));
    const first = await focus(page);
    assert.ok(first.inMenu && first.role === 'menuitem', `the menu did not take the focus: ${show(first)}`);
    assert.ok(first.ring, `no visible focus on ${show(first)}`);
    await key('ArrowDown');
    const second = await focus(page);
    assert.ok(second.inMenu && second.name !== first.name, `ArrowDown did not move: ${show(second)}`);
    assert.ok(second.ring, `no visible focus on ${show(second)}`);
    await key('Escape');
    await gone(page.getByRole('menu'));
    assert.equal(show(await focus(page)), 'button "Message actions"');
    await context.close();
  });
});
