/**
 * Web Push in the service worker, in Chromium. Headless Chromium cannot subscribe to a real push
 * service, so the test hands the worker a push through the DevTools protocol
 * (ServiceWorker.deliverPushMessage) with exactly the payload the server sends, and reads what the
 * worker showed with registration.getNotifications(): the generic "New message" in the person's
 * language, nothing from the message, and nothing while the app is on screen; for a call push,
 * "Incoming call", replaced by "Missed call" when the caller gives up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WAKE_PAYLOAD } from '@kolokol/server';
import type { BrowserContext, CDPSession, Page, Worker } from 'playwright-core';
import {
  type App,
  hasChromium,
  message,
  type Person,
  send,
  signUp,
  startApp,
  startChat,
  visible,
} from './helpers.ts';

interface Shown {
  title: string;
  body: string;
  tag: string;
  data: string;
}

/** The notifications the app's service worker is showing, read in the page. */
function shown(page: Page): Promise<Shown[]> {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return (await reg.getNotifications()).map((n) => ({
      title: n.title,
      body: n.body,
      tag: n.tag,
      data: JSON.stringify(n.data ?? null),
    }));
  });
}

/** What the worker's notificationclick handler asked the browser to do. */
interface Click {
  opened: string[];
  focused: string[];
  left: number;
}

/**
 * Clicks the worker's notification. A headless browser has no notification to click, and a click
 * made up in script is not allowed to open or focus windows, so the worker's own calls are
 * recorded instead of performed: which URL it would open, which window it would bring forward.
 */
function clickNotification(worker: Worker): Promise<Click> {
  return worker.evaluate(async () => {
    interface Patchable<F> {
      prototype: Record<string, F>;
    }
    const sw = globalThis as unknown as {
      registration: ServiceWorkerRegistration;
      clients: { openWindow(url: string): Promise<unknown> };
      NotificationEvent: new (type: string, init: { notification: Notification }) => Event;
      ExtendableEvent: Patchable<(p: Promise<unknown>) => void>;
      WindowClient: Patchable<(this: { url: string }) => Promise<unknown>>;
      dispatchEvent(e: Event): boolean;
    };
    const [notification] = await sw.registration.getNotifications();
    if (notification === undefined) throw new Error('no notification to click');
    const opened: string[] = [];
    const focused: string[] = [];
    const pending: Promise<unknown>[] = [];
    const waitUntil = sw.ExtendableEvent.prototype.waitUntil;
    const focus = sw.WindowClient.prototype.focus;
    sw.ExtendableEvent.prototype.waitUntil = (p: Promise<unknown>) => {
      pending.push(p);
    };
    sw.WindowClient.prototype.focus = async function (this: { url: string }) {
      focused.push(this.url);
      return this;
    };
    sw.clients.openWindow = async (url: string) => {
      opened.push(new URL(url, location.href).href);
      return null;
    };
    try {
      sw.dispatchEvent(new sw.NotificationEvent('notificationclick', { notification }));
      await Promise.all(pending);
    } finally {
      if (waitUntil !== undefined) sw.ExtendableEvent.prototype.waitUntil = waitUntil;
      if (focus !== undefined) sw.WindowClient.prototype.focus = focus;
      delete (sw.clients as { openWindow?: unknown }).openWindow;
    }
    return { opened, focused, left: (await sw.registration.getNotifications()).length };
  });
}

interface SwBrowser {
  context: BrowserContext;
  page: Page;
  /** Hands the app's service worker a push, as the browser does when one arrives. */
  push(data?: string): Promise<void>;
  /** Whether DevTools has reported the app's registration yet. */
  registered(): boolean;
}

/**
 * A browser with service workers allowed (the helpers block them for the other tests) and
 * notifications granted, watched over the DevTools protocol for the app's registration.
 */
async function openBrowser(app: App, init?: () => void): Promise<SwBrowser> {
  const origin = new URL(app.url).origin;
  const context = await app.browser.newContext({
    locale: 'en-US',
    viewport: { width: 1200, height: 800 },
    serviceWorkers: 'allow',
    permissions: ['notifications'],
  });
  if (init !== undefined) await context.addInitScript(init);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const cdp: CDPSession = await context.newCDPSession(page);
  let registrationId: string | undefined;
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
    for (const r of registrations)
      if (r.scopeURL === `${origin}/`) registrationId = r.isDeleted ? undefined : r.registrationId;
  });
  await cdp.send('ServiceWorker.enable');
  return {
    context,
    page,
    registered: () => registrationId !== undefined,
    async push(data = WAKE_PAYLOAD) {
      assert.ok(registrationId !== undefined, 'no service worker registration seen');
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data });
    },
  };
}

describe('web push in the service worker', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  let origin: string;
  let alice: SwBrowser;
  let page: Page;
  let context: BrowserContext;
  let bob: Person;

  before(async () => {
    app = await startApp();
    origin = new URL(app.url).origin;
    alice = await openBrowser(app);
    ({ page, context } = alice);
  });
  after(async () => {
    await context?.close();
    await app?.close();
  });

  const push = (data?: string) => alice.push(data);

  /** Leaves the app, so no window of it is on screen (the case a push is for). */
  const away = () => page.goto('about:blank');
  const back = async () => {
    await page.goto(`${app.url}/`);
    await visible(page.getByRole('list', { name: /^(Chats|Чаты)$/ }), 30_000);
  };

  /** Waits for the worker to show what it shows for a push. */
  const waitShown = async (title: string): Promise<Shown[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      await back();
      const now = await shown(page);
      if (now.some((n) => n.title === title) || Date.now() > deadline) return now;
      await away();
      await page.waitForTimeout(250);
    }
  };

  const worker = async (): Promise<Worker> =>
    context.serviceWorkers().find((w) => w.url() === `${origin}/sw.js`) ??
    context.waitForEvent('serviceworker', { timeout: 10_000 });

  test('the service worker is installed and controls the app after sign-up', async () => {
    await page.goto(`${app.url}/`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Display name').fill('Alice Liddell');
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
      timeout: 30_000,
    });
    assert.equal(
      await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state),
      'activated',
    );
    assert.ok(alice.registered(), 'DevTools reported no registration for the app');
    bob = await signUp(app, 'bob', 'Bob Builder');
    await startChat(bob, 'alice');
  });

  test('a push while the app is on screen shows no system notification', async () => {
    await push();
    await page.waitForTimeout(1_000);
    assert.deepEqual(await shown(page), []);
  });

  test('a push with the app closed says "New message" and nothing of the message', async () => {
    await away();
    const secret = 'The key is under the teapot';
    await send(bob, secret);
    await visible(message(bob, secret));
    await push();
    const notes = await waitShown('New message');
    assert.equal(notes.length, 1, JSON.stringify(notes));
    const [note] = notes;
    assert.equal(note?.title, 'New message');
    assert.equal(note?.body, '');
    const all = JSON.stringify(notes);
    for (const leak of ['teapot', 'key', 'Bob', 'bob', 'wake'])
      assert.ok(!all.includes(leak), `the notification gives away "${leak}": ${all}`);
  });

  test('clicking the notification brings the open app forward, or opens it', async () => {
    // The app is open (the previous test came back to it): it is focused, not opened again.
    const onScreen = await clickNotification(await worker());
    assert.deepEqual(onScreen.opened, []);
    assert.equal(onScreen.focused.length, 1, JSON.stringify(onScreen));
    assert.equal(new URL(onScreen.focused[0] ?? '').origin, origin);
    assert.equal(onScreen.left, 0, 'the clicked notification stays');

    // No window of the app: a click opens one at the app's start page.
    await away();
    await push();
    const w = await worker();
    const deadline = Date.now() + 10_000;
    const count = () =>
      w.evaluate(async () => {
        const sw = globalThis as unknown as { registration: ServiceWorkerRegistration };
        return (await sw.registration.getNotifications()).length;
      });
    while ((await count()) === 0) {
      assert.ok(Date.now() < deadline, 'no notification for the push');
      await page.waitForTimeout(100);
    }
    const closed = await clickNotification(w);
    assert.deepEqual(closed.opened, [`${origin}/`]);
    assert.deepEqual(closed.focused, []);
    assert.equal(closed.left, 0);
    await back();
  });

  test('in Russian after the language is switched in settings', async () => {
    await page.getByRole('button', { name: 'Settings' }).first().click();
    await page.getByLabel('Language').selectOption('ru');
    await visible(page.getByRole('heading', { name: 'Настройки' }));
    await away();
    await push();
    const notes = await waitShown('Новое сообщение');
    assert.deepEqual(
      notes.map((n) => [n.title, n.body]),
      [['Новое сообщение', '']],
    );
  });

  test('a call push rings ("Incoming call"), and the missed-call push replaces it', async () => {
    // Still in Russian from the test before.
    await away();
    await push('{"t":"call"}');
    const ringing = (await waitShown('Входящий звонок')).filter((n) => n.tag === 'kolokol-call');
    assert.deepEqual(
      ringing.map((n) => [n.title, n.body]),
      [['Входящий звонок', 'Откройте Kolokol, чтобы ответить']],
    );
    await away();
    await push('{"t":"missed-call"}');
    const missed = (await waitShown('Пропущенный звонок')).filter((n) => n.tag === 'kolokol-call');
    assert.deepEqual(
      missed.map((n) => n.title),
      ['Пропущенный звонок'],
    );
    // A payload the worker does not know is an ordinary wake, not an error.
    await away();
    await push('{"t":"surprise"}');
    const notes = await waitShown('Новое сообщение');
    assert.ok(notes.some((n) => n.title === 'Новое сообщение'));
  });

  test('a language chosen before the worker took control reaches it as well', async () => {
    // Russian is saved before the very first visit, so the app sets it while no worker controls
    // the page yet; the worker must still learn it once it takes over.
    const other = await openBrowser(app, () => {
      try {
        if (localStorage.getItem('kolokol:prefs') === null)
          localStorage.setItem('kolokol:prefs', JSON.stringify({ language: 'ru' }));
      } catch {
        // about:blank has no storage.
      }
    });
    try {
      await other.page.goto(`${app.url}/`);
      await visible(other.page.getByRole('button', { name: 'Создать аккаунт' }));
      await other.page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
        timeout: 30_000,
      });
      await other.page.goto('about:blank');
      await other.push();
      await other.page.goto(`${app.url}/`);
      let notes: Shown[] = [];
      for (const until = Date.now() + 10_000; notes.length === 0 && Date.now() < until; )
        notes = await shown(other.page);
      assert.deepEqual(
        notes.map((n) => n.title),
        ['Новое сообщение'],
      );
    } finally {
      await other.context.close();
    }
  });
});
