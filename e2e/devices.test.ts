/**
 * Linking a second browser to an account (code shown as text and QR on the first, pasted on the
 * second), the linked browser receiving new messages, revoking it, and the Russian interface.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
import { writeQrVideo } from './qr-video.ts';

describe('devices and languages', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  let dana: Person;
  let eve: Person;
  let danaLaptop: Person;

  before(async () => {
    app = await startApp({ maxAttachmentBytes: 5 * 1024 * 1024 });
  });
  after(async () => {
    await app?.close();
  });

  test('a second browser links by code and then sees new messages', async () => {
    dana = await signUp(app, 'dana', 'Dana');
    eve = await signUp(app, 'eve', 'Eve');
    await startChat(dana, 'eve');
    await send(dana, 'Before the laptop joined');
    await visible(message(dana, 'Before the laptop joined'));

    await dana.page.getByRole('button', { name: 'Devices' }).click();
    await dana.page.getByRole('button', { name: 'Link a device' }).click();
    const dialog = dana.page.getByRole('dialog', { name: 'Link a device' });
    await visible(dialog.getByRole('img', { name: 'QR code for linking' }));
    const code = ((await dialog.getByTestId('link-code').textContent()) ?? '').trim();
    assert.match(code, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    await shotBoth(dana.page, 'link-device');

    const laptop = await openPerson(app);
    await laptop.page.getByRole('tab', { name: 'Link this browser' }).click();
    await laptop.page.getByLabel('Link code').fill(code);
    await laptop.page.getByRole('button', { name: 'Link this browser' }).click();
    await visible(laptop.page.getByRole('list', { name: 'Chats' }), 60_000);
    danaLaptop = { username: 'dana', ...laptop };
    await dialog.getByRole('button', { name: 'Close' }).click();
    await visible(dana.page.getByRole('list', { name: 'Devices' }).getByRole('listitem').nth(1), 30_000);

    // The conversation reaches the laptop once the other browser adds it to the group.
    await visible(
      danaLaptop.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /eve/i }),
      60_000,
    );
    await openChat(eve, /dana/i);
    await send(eve, 'Hello to all your devices');
    await openChat(danaLaptop, /eve/i);
    await visible(message(danaLaptop, 'Hello to all your devices'), 60_000);
    await openChat(dana, /eve/i);
    await visible(message(dana, 'Hello to all your devices'), 30_000);
    // And the laptop can write too.
    await send(danaLaptop, 'Typed on the laptop');
    await visible(message(eve, 'Typed on the laptop'), 30_000);
  });

  test('any device can remove another', async () => {
    await dana.page.getByRole('button', { name: 'Devices' }).click();
    const list = dana.page.getByRole('list', { name: 'Devices' });
    await visible(list.getByRole('listitem').nth(1));
    await list.getByRole('button', { name: /^Remove/ }).click();
    await dana.page
      .getByRole('dialog')
      .getByRole('button', { name: /^Remove/ })
      .click();
    await gone(list.getByRole('listitem').nth(1), 30_000);
    await visible(danaLaptop.page.getByText('This browser was removed from your account'), 30_000);
    await shotBoth(danaLaptop.page, 'device-removed');
  });

  test('a phone links by scanning the QR code with its camera', async () => {
    await dana.page.getByRole('button', { name: 'Link a device' }).click();
    const dialog = dana.page.getByRole('dialog', { name: 'Link a device' });
    const code = ((await dialog.getByTestId('link-code').textContent()) ?? '').trim();
    const video = join(tmpdir(), `kolokol-e2e-qr-${process.pid}.y4m`);
    writeQrVideo(code, video);
    const phoneBrowser = await launchChromium([`--use-file-for-fake-video-capture=${video}`]);
    try {
      const phone = await phoneBrowser.newContext({
        viewport: { width: 390, height: 800 },
        serviceWorkers: 'block',
      });
      await phone.grantPermissions(['camera']);
      const page = await phone.newPage();
      await page.goto(app.url);
      await page.getByRole('tab', { name: 'Link this browser' }).click();
      await page.getByRole('button', { name: 'Scan QR code' }).click();
      await visible(page.getByRole('list', { name: 'Chats' }), 60_000);
      await visible(
        page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /eve/i }),
        60_000,
      );
    } finally {
      await phoneBrowser.close();
      rmSync(video, { force: true });
    }
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  test('an invite link leads to a chat; a too-large file is refused with a clear message', async () => {
    const gina = await openPerson(app, { hash: '#/u/eve' });
    await visible(gina.page.getByText('After you sign up you can chat with @eve.'));
    await gina.page.getByLabel('Username').fill('gina');
    await gina.page.getByRole('button', { name: 'Create account' }).click();
    await visible(gina.page.getByRole('heading', { name: 'Chat with @eve' }), 30_000);
    await shotBoth(gina.page, 'invite');
    await gina.page.getByRole('button', { name: 'Start chat' }).click();
    await visible(gina.page.getByRole('region', { name: /eve/i }), 30_000);
    const chooser = gina.page.waitForEvent('filechooser');
    await gina.page.getByRole('button', { name: 'Attach' }).click();
    await (await chooser).setFiles({
      name: 'holiday.mov',
      mimeType: 'video/quicktime',
      buffer: Buffer.alloc(6 * 1024 * 1024),
    });
    await visible(
      gina.page.getByRole('alert').filter({ hasText: 'holiday.mov is 6 MB; files up to 5 MB can be sent.' }),
    );
    await gina.context.close();
  });

  test('installable: manifest, service worker, and the shell opens offline', async () => {
    const context = await app.browser.newContext({ serviceWorkers: 'allow' });
    const page = await context.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => logs.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(app.url);
    const manifest = await page.evaluate(async () => {
      const href = document.querySelector('link[rel="manifest"]')?.getAttribute('href') ?? '';
      return (await fetch(href)).json();
    });
    assert.equal(manifest.name, 'Kolokol');
    assert.ok(manifest.icons.some((i: { sizes: string }) => i.sizes === '512x512'));
    const workerState = () =>
      page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration();
        return r === undefined
          ? 'no registration'
          : `installing=${r.installing?.state} waiting=${r.waiting?.state} active=${r.active?.state}`;
      });
    // Wait for an active worker (install precaches the whole build, slow on a loaded machine),
    // then reload: a reloaded page is controlled by the active worker whether or not
    // clients.claim() won the race with the first load.
    const ready = await page
      .evaluate(() =>
        Promise.race([
          navigator.serviceWorker.ready.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 120_000)),
        ]),
      )
      .then(
        (v) => v,
        () => false,
      );
    assert.ok(ready, `the service worker never became active (${await workerState()}): ${logs.join(' | ')}`);
    if (!(await page.evaluate(() => navigator.serviceWorker.controller !== null))) await page.reload();
    const active = await page
      .waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 60_000 })
      .then(() => true)
      .catch(() => false);
    assert.ok(active, `the service worker never took control (${await workerState()}): ${logs.join(' | ')}`);
    await context.setOffline(true);
    await page.reload();
    await visible(page.getByRole('button', { name: 'Create account' }), 30_000);
    await context.close();
  });

  test('the Russian interface', async () => {
    const ru = await openPerson(app, { locale: 'ru-RU' });
    await visible(ru.page.getByRole('button', { name: 'Создать аккаунт' }));
    assert.equal(await ru.page.evaluate(() => document.documentElement.lang), 'ru');
    await shotBoth(ru.page, 'onboarding-ru');
    await ru.page.getByLabel('Имя пользователя').fill('fedor');
    await ru.page.getByLabel('Отображаемое имя').fill('Фёдор');
    await ru.page.getByRole('button', { name: 'Создать аккаунт' }).click();
    await visible(ru.page.getByRole('list', { name: 'Чаты' }), 30_000);
    await ru.page.getByRole('button', { name: 'Новый чат' }).click();
    await ru.page.getByRole('dialog').getByLabel('Имя пользователя').fill('eve');
    await ru.page.getByRole('button', { name: 'Начать чат' }).click();
    await visible(ru.page.getByRole('log', { name: 'Сообщения' }), 30_000);
    await ru.page.getByLabel('Сообщение', { exact: true }).fill('Привет, Ева!');
    await ru.page.getByRole('button', { name: 'Отправить' }).click();
    await visible(
      ru.page
        .getByRole('log', { name: 'Сообщения' })
        .getByRole('listitem')
        .filter({ hasText: 'Привет, Ева!' }),
    );
    await visible(ru.page.getByRole('link', { name: 'Сквозное шифрование' }));
    await shotBoth(ru.page, 'chat-ru');
    // The switch in settings goes back to English without a reload.
    await ru.page.getByRole('button', { name: 'Настройки' }).first().click();
    await ru.page.getByLabel('Язык').selectOption('en');
    await visible(ru.page.getByRole('heading', { name: 'Settings' }));
    await ru.context.close();
  });
});
