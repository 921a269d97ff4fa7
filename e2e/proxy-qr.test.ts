/**
 * Scanning a community proxy's QR code (issue 5): a `kolokol://proxy` link filmed by the camera is
 * added as a way to the server, from Settings → Ways to the server or from the New chat scanner a
 * person already knows, and a QR code that is not a proxy link adds nothing. Pasting and links in
 * chats are in proxy-link.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  type App,
  gone,
  hasChromium,
  launchChromium,
  type Person,
  signUp,
  startApp,
  visible,
} from './helpers.ts';
import { writeQrVideo } from './qr-video.ts';

const LINK = 'kolokol://proxy?host=203.0.113.9&port=8443';
const FRONT = 'https://203.0.113.9:8443';

describe('proxy QR codes in the web app', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  const cameras: Browser[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-proxy-qr-'));

  /** A person whose camera films a QR code of `text`. */
  const withCamera = async (username: string, text: string): Promise<Person> => {
    const video = join(dir, `${username}.y4m`);
    writeQrVideo(text, video);
    const camera = await launchChromium([`--use-file-for-fake-video-capture=${video}`]);
    cameras.push(camera);
    const p = await signUp({ ...app, browser: camera }, username, username);
    await p.context.grantPermissions(['camera']);
    return p;
  };
  const network = (p: Person) => p.page.getByRole('region', { name: 'Ways to the server' });
  const addresses = (p: Person) =>
    network(p).getByRole('list', { name: 'Server addresses' }).getByRole('listitem');
  const toasts = (p: Person) => p.page.getByRole('region', { name: 'Alerts' });
  const openSettings = async (p: Person) => {
    await p.page.getByRole('button', { name: 'Settings' }).first().click();
    await visible(network(p));
  };

  before(async () => {
    app = await startApp();
  });
  after(async () => {
    for (const c of cameras) await c.close();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Settings → Scan a proxy QR adds the filmed proxy to the server addresses', async () => {
    const alice = await withCamera('alice', LINK);
    await openSettings(alice);
    await visible(addresses(alice).first());
    assert.equal(await addresses(alice).filter({ hasText: FRONT }).count(), 0);
    await network(alice).getByRole('button', { name: 'Scan a proxy QR' }).click();
    await visible(toasts(alice).getByText(`Proxy added: ${FRONT}`, { exact: true }), 60_000);
    await gone(alice.page.getByRole('dialog', { name: 'Scan a QR code' }));
    await visible(addresses(alice).filter({ hasText: FRONT }));
  });

  test('the New chat scanner adds a proxy instead of looking for a person', async () => {
    const bob = await withCamera('bob', LINK);
    await bob.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = bob.page.getByRole('dialog', { name: 'New chat' });
    await dialog.getByRole('button', { name: 'Scan invite QR' }).click();
    await visible(toasts(bob).getByText(`Proxy added: ${FRONT}`, { exact: true }), 60_000);
    await gone(dialog);
    // Neither an error nor a chat: the link was not taken for a username.
    assert.equal(await toasts(bob).getByRole('alert').count(), 0);
    assert.equal(await bob.page.getByRole('log', { name: 'Messages' }).count(), 0);
    await openSettings(bob);
    await visible(addresses(bob).filter({ hasText: FRONT }));
  });

  test('a QR code that is not a proxy link is refused in Settings and adds nothing', async () => {
    // An invite link: the QR code a person is most likely to point the camera at by mistake.
    const carol = await withCamera('carol', `${app.url}/#/u/alice`);
    await openSettings(carol);
    await visible(addresses(carol).first());
    const before = await addresses(carol).allTextContents();
    await network(carol).getByRole('button', { name: 'Scan a proxy QR' }).click();
    await visible(
      network(carol).getByText('This is not a kolokol://proxy link with a host and a port.'),
      60_000,
    );
    await gone(carol.page.getByRole('dialog', { name: 'Scan a QR code' }));
    assert.deepEqual(await addresses(carol).allTextContents(), before);
    assert.equal(
      await toasts(carol)
        .getByText(/^Proxy added/)
        .count(),
      0,
    );
  });
});
