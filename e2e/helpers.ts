/**
 * End-to-end harness: a real server (in process, port 0, temporary data folder) serving the built
 * web app, and Debian's Chromium driven by playwright-core. Each person is a browser context.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@kolokol/server';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { ensureWebApp, repoRoot } from '../scripts/webapp.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const screenshotDir = join(repoRoot, 'artifacts/screenshots');

if (!hasChromium) {
  console.error(
    '\n!!! SKIPPING end-to-end tests: /usr/bin/chromium is missing (apt-get install -y chromium) !!!\n',
  );
}

/** `executablePath`: another way to start Chromium (the censorship rig's network-namespace wrapper). */
export function launchChromium(extraArgs: string[] = [], executablePath = CHROMIUM): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A synthetic microphone and camera, allowed without a prompt (voice notes, QR scanning).
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      ...extraArgs,
    ],
  });
}

export interface App {
  url: string;
  browser: Browser;
  close(): Promise<void>;
}

export async function startApp(opts: { maxAttachmentBytes?: number } = {}): Promise<App> {
  ensureWebApp();
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-'));
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', ...opts });
  const browser = await launchChromium();
  return {
    url: server.url,
    browser,
    async close() {
      await browser.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Person {
  username: string;
  context: BrowserContext;
  page: Page;
}

export async function openPerson(
  app: App,
  opts: {
    locale?: string;
    colorScheme?: 'light' | 'dark';
    viewport?: { width: number; height: number };
    /** e.g. `#/u/alice`: an invite link */
    hash?: string;
  } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await app.browser.newContext({
    locale: opts.locale ?? 'en-US',
    colorScheme: opts.colorScheme ?? 'light',
    viewport: opts.viewport ?? { width: 1200, height: 800 },
    serviceWorkers: 'block',
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(`${app.url}/${opts.hash ?? ''}`);
  return { context, page };
}

/** Creates an account through the UI and waits for the chat list. */
export async function signUp(
  app: App,
  username: string,
  displayName: string,
  opts: Parameters<typeof openPerson>[1] = {},
): Promise<Person> {
  const { context, page } = await openPerson(app, opts);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByRole('button', { name: 'Create account' }).click();
  await visible(page.getByRole('list', { name: 'Chats' }), 30_000);
  return { username, context, page };
}

/**
 * `title`: what the chat is called once it opens, when that may differ from the username (the
 * peer's display name, which replaces the username as soon as their profile is known).
 */
export async function startChat(
  p: Person,
  username: string,
  title = new RegExp(username, 'i'),
): Promise<void> {
  await p.page.getByRole('button', { name: 'New chat' }).click();
  await p.page.getByRole('dialog').getByLabel('Username').fill(username);
  await p.page.getByRole('button', { name: 'Start chat' }).click();
  await visible(p.page.getByRole('region', { name: title }), 30_000);
  await visible(p.page.getByRole('log', { name: 'Messages' }));
}

export async function send(p: Person, text: string): Promise<void> {
  await p.page.getByLabel('Message', { exact: true }).fill(text);
  await p.page.getByRole('button', { name: 'Send' }).click();
}

export function message(p: Person, text: string) {
  return p.page.getByRole('log', { name: 'Messages' }).getByRole('listitem').filter({ hasText: text });
}

export async function openChat(p: Person, title: string | RegExp): Promise<void> {
  await p.page
    .getByRole('list', { name: 'Chats' })
    .getByRole('link')
    .filter({ hasText: title })
    .first()
    .click();
  await visible(p.page.getByRole('region', { name: title }));
  await visible(p.page.getByRole('log', { name: 'Messages' }));
}

/**
 * `a` starts a 1:1 chat with `b` and says `text`; `b` sees the chat appear and opens it. Both end
 * with the conversation on screen: the start of every two-person test.
 */
export async function chatBetween(a: Person, b: Person, text: string): Promise<void> {
  await startChat(a, b.username);
  await send(a, text);
  const from = new RegExp(a.username, 'i');
  await visible(
    b.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: from }),
    30_000,
  );
  await openChat(b, from);
  await visible(message(b, text), 30_000);
}

/** A screenshot of the current screen, in artifacts/screenshots/NAME.png. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/** Light and dark screenshots of the same screen. */
export async function shotBoth(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(50);
    await shot(page, `${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Waits until the locator's first match is visible (playwright-core has no `expect`). */
export async function visible(l: Locator, timeout = 20_000): Promise<void> {
  await l.first().waitFor({ state: 'visible', timeout });
}

export async function gone(l: Locator, timeout = 20_000): Promise<void> {
  await l.first().waitFor({ state: 'hidden', timeout });
}
