/**
 * What the app says when it cannot keep keys, in Chromium: opened over plain http on an address
 * that is not localhost (no secure context, so no WebCrypto to seal the store with), and a store
 * whose sealed records no longer open (the record key was deleted), where it offers to start over.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser } from 'playwright-core';
import { ensureWebApp } from '../scripts/webapp.ts';
import { hasChromium, launchChromium, visible } from './helpers.ts';

/** An address of this machine that browsers do not count as potentially trustworthy. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

describe('the app refuses clearly when it cannot keep keys', {
  skip: !hasChromium && 'no /usr/bin/chromium',
}, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-boot-'));
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    ensureWebApp();
    server = await startServer({ host: '0.0.0.0', port: 0, dataDir, logLevel: 'silent', turn: false });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('plain http to a LAN address: a secure connection is needed, said plainly', {
    skip: lanAddress === undefined && 'this machine has no non-loopback IPv4 address',
  }, async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    const page = await context.newPage();
    await page.goto(`http://${lanAddress}:${server.port}/`);
    await visible(page.getByRole('alert').filter({ hasText: 'secure connection' }), 30_000);
    assert.equal(await page.getByLabel('Username').count(), 0, 'no sign-up without a way to keep keys');
    await context.close();
  });

  test('sealed records whose key is gone: the app offers to start over, which works', async () => {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.getByLabel('Username').fill('boot_alice');
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
    // Lose the record key, as a browser that dropped part of the profile would.
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open('kolokol');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const db = open.result;
            const tx = db.transaction('keyring', 'readwrite');
            tx.objectStore('keyring').clear();
            tx.oncomplete = () => {
              db.close();
              resolve();
            };
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
    await page.reload();
    await visible(page.getByRole('alert').filter({ hasText: 'cannot be read' }), 30_000);
    await page.getByRole('button', { name: 'Start over on this device' }).click();
    await visible(page.getByLabel('Username'), 30_000);
    await context.close();
  });
});
