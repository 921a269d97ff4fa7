/**
 * The censorship matrix: one server (two fronts) and one community proxy in their namespaces, one
 * headless Chromium in the client namespace, and for each profile new people who load the web app
 * through the censor, exchange a chat message both ways and make a voice+video call whose media is
 * asserted from getStats on both sides (call-helpers.ts). Used by `npm run censorship` (run.ts)
 * and by censorship.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { ensureWebApp, repoRoot } from '../../scripts/webapp.ts';
import {
  addContact,
  assertMediaFlows,
  callBrowserArgs,
  callPerson,
  inbound,
  num,
  type Stat,
  selectedPair,
  stats,
  waitFor,
  writeTone,
} from '../call-helpers.ts';
import {
  CHROMIUM,
  gone,
  launchChromium,
  message,
  openChat,
  type Person,
  send,
  startChat,
  visible,
} from '../helpers.ts';
import { applyRules, createNetwork, destroyNetwork, type Namespaces, NET } from './netns.ts';
import { BASE_RULES, type Profile } from './profiles.ts';

export interface Row {
  profile: string;
  title: string;
  pageLoad: string;
  message: string;
  call: string;
  firstFrame: string;
  route: string;
  ok: boolean;
  error?: string;
}

export interface Rig {
  run(profile: Profile): Promise<Row>;
  close(): Promise<void>;
}

const FRONT1 = `https://${NET.front1}`;
const FRONT2 = `https://${NET.front2}`;
const PROXY = `https://${NET.proxy}`;

/** Starts a child inside `ns` and resolves once it printed a line matching `ready`. */
function startIn(ns: string, args: string[], ready: RegExp, log: (l: string) => void): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start in ${ns}`)), 60_000);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr?.on('data', (b: Buffer) => log(`[${ns}] ${b.toString().trimEnd()}`));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code} in ${ns}: ${out}`));
    });
  });
}

/**
 * Waits until the app's service worker controls the page and the SDK kept the server's fronts:
 * what a returning user has.
 */
async function installed(p: Person): Promise<void> {
  await p.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  if (!(await p.page.evaluate(() => navigator.serviceWorker.controller !== null))) await p.page.reload();
  await p.page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
    timeout: 30_000,
  });
  await visible(p.page.getByRole('list', { name: 'Chats' }), 30_000);
}

/** Runs one step of a scenario; its failure names the step (a bare locator timeout says little). */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (process.env.KOLOKOL_TRACE === '1')
    process.stderr.write(`[${new Date().toISOString()}] step: ${name}\n`);
  try {
    return await fn();
  } catch (e) {
    const why = e instanceof Error ? (e.message.split('\n')[0] ?? e.message) : String(e);
    throw new Error(`${name}: ${why}`, { cause: e });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function startRig(log: (line: string) => void = () => {}): Promise<Rig> {
  ensureWebApp(log);
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-censorship-'));
  const tone = join(dir, 'tone.wav');
  writeTone(tone);
  let ns: Namespaces | undefined;
  const children: ChildProcess[] = [];
  const browsers: Browser[] = [];
  const close = async () => {
    for (const b of browsers) await b.close().catch(() => {});
    // A server still holding the browsers' sockets may take its time to stop: 5 s, then SIGKILL.
    await Promise.all(
      children.map((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return undefined;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
        return exited.finally(() => clearTimeout(timer));
      }),
    );
    if (ns !== undefined) destroyNetwork(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    ns = createNetwork();
    children.push(
      await startIn(
        ns.server,
        ['e2e/censorship/server-child.ts', join(dir, 'server'), NET.proxy, FRONT1, FRONT2],
        /^ready/m,
        log,
      ),
    );
    children.push(
      await startIn(
        ns.proxy,
        [
          'apps/cli/src/main.ts',
          'proxy',
          '--listen',
          `${NET.proxy}:443`,
          '--upstream',
          `${NET.front1}:443`,
          '--proxy-protocol',
        ],
        /proxy listening/,
        log,
      ),
    );
    // Each person's Chromium runs in a client namespace: playwright talks to it over inherited
    // pipes, which `ip netns exec` keeps.
    for (const n of [ns.client, ns.client2]) {
      const wrapper = join(dir, `chromium-in-${n}.sh`);
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${n} ${CHROMIUM} "$@"\n`);
      chmodSync(wrapper, 0o755);
      browsers.push(
        await launchChromium(
          [
            ...callBrowserArgs(tone),
            // The server's certificate is self-signed: pages and Chromium's TURN client accept it.
            '--ignore-certificate-errors',
            ...(process.env.KOLOKOL_CHROMIUM_ARGS ?? '').split(' ').filter((a) => a !== ''),
          ],
          wrapper,
        ),
      );
    }
  } catch (e) {
    await close();
    throw e;
  }
  const [aliceBrowser, bobBrowser] = browsers as [Browser, Browser];
  const namespaces = ns;

  async function scenario(profile: Profile, row: Row): Promise<void> {
    const censor = [...BASE_RULES, ...profile.rules];
    applyRules(namespaces, profile.returning === true ? BASE_RULES : censor);
    const url = profile.entry === 'proxy' ? PROXY : FRONT1;
    const tag = profile.id.toLowerCase();
    const people: Person[] = [];
    const sw = profile.returning === true ? 'allow' : 'block';
    try {
      const t0 = Date.now();
      const alice = await step('alice signs up', () =>
        callPerson(aliceBrowser, url, `alice_${tag}`, 'Alice', sw),
      );
      people.push(alice);
      row.pageLoad = `ok ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      const bob = await step('bob signs up', () => callPerson(bobBrowser, url, `bob_${tag}`, 'Bob', sw));
      people.push(bob);
      if (profile.returning === true) {
        await step('the app is installed', () => Promise.all([alice, bob].map((p) => installed(p))));
        applyRules(namespaces, censor);
        const t1 = Date.now();
        await step('the installed app opens under the censor', () =>
          Promise.all(
            [alice, bob].map(async (p) => {
              // Not 'load': a resource that is not in the app's cache may hang on the frozen front.
              await p.page.reload({ waitUntil: 'commit', timeout: 30_000 });
              await visible(p.page.getByRole('list', { name: 'Chats' }), 30_000);
            }),
          ),
        );
        row.pageLoad = `ok ${((Date.now() - t1) / 1000).toFixed(1)} s (installed)`;
      }

      // Contacts both ways: the consent rules let a contact's chat and call in without a request.
      await step('alice adds bob as a contact', () => addContact(alice, bob.username));
      await step('bob adds alice as a contact', () => addContact(bob, alice.username));
      await step('alice starts a chat with bob', () => startChat(alice, bob.username, /bob/i));
      // The first send right after the chat opens can be lost to a re-render of the composer
      // (seen only in the first profile of a fresh rig): send again until it shows as ours.
      for (let attempt = 1; ; attempt++) {
        await step('alice sends', () => send(alice, `hello from alice in ${profile.id}`));
        try {
          await visible(message(alice, `hello from alice in ${profile.id}`), 5000);
          break;
        } catch (e) {
          if (attempt === 3) throw e;
          // Said out loud, so that a run shows whether this still happens.
          log(`${profile.id}: alice's message did not show as sent after 5 s; sending it again`);
        }
      }
      await step('the chat with alice shows at bob', () =>
        visible(
          bob.page.getByRole('list', { name: 'Chats' }).getByRole('link').filter({ hasText: /alice/i }),
          30_000,
        ),
      );
      await step('bob opens the chat', () => openChat(bob, /alice/i));
      await step("alice's message reaches bob", () =>
        visible(message(bob, `hello from alice in ${profile.id}`), 30_000),
      );
      await step('bob sends', () => send(bob, `hello from bob in ${profile.id}`));
      await step("bob's message reaches alice", () =>
        visible(message(alice, `hello from bob in ${profile.id}`), 30_000),
      );
      row.message = 'ok both ways';

      await step('alice calls', () => alice.page.getByRole('button', { name: 'Video call' }).click());
      await step('the call rings at bob', () => visible(bob.page.getByRole('alertdialog'), 30_000));
      const accepted = Date.now();
      await step('bob accepts', () => bob.page.getByRole('button', { name: 'Accept' }).click());
      const firstFrame = async (p: Person) => {
        let all: Stat[] = [];
        await waitFor(
          `a decoded video frame at ${p.username}`,
          async () => {
            all = await stats(p.page).catch(() => []);
            return num(inbound(all, 'video')?.framesDecoded) > 0;
          },
          45_000,
        );
        return Date.now() - accepted;
      };
      const frames = await Promise.all([firstFrame(alice), firstFrame(bob)]);
      row.firstFrame = `${(Math.max(...frames) / 1000).toFixed(1)} s`;
      // Where the censor starves a route only after the call is up (P4), the call must notice the
      // stall and move (an ICE restart without UDP): wait for both sides to be on a route that the
      // profile leaves alone, then check the media there.
      const settled = async (p: Person) => {
        const all = await stats(p.page).catch((): Stat[] => []);
        const pair = selectedPair(all);
        const local = all.find((s) => s.id === pair?.localCandidateId);
        const proto = String(local?.relayProtocol) as 'udp' | 'tcp' | 'tls';
        return pair?.state === 'succeeded' && profile.relayProtocols.includes(proto);
      };
      await step('the call settles on a route the censor leaves alone', () =>
        Promise.all(
          [alice, bob].map((p) =>
            waitFor(`a ${profile.relayProtocols.join('/')} relay at ${p.username}`, () => settled(p), 45_000),
          ),
        ),
      );
      // A call the censor pushes off its first route may still be moving (an ICE restart, a key
      // frame on the new route) when the samples are taken: a few tries, a few seconds apart.
      const sides = await step('media flows both ways', async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await Promise.all([
              assertMediaFlows(alice.page, { video: true, route: 'relay' }),
              assertMediaFlows(bob.page, { video: true, route: 'relay' }),
            ]);
          } catch (e) {
            if (attempt === 4) throw e;
            await new Promise((r) => setTimeout(r, 3000));
          }
        }
      });
      const routes = sides.map(({ local }) => `${String(local?.relayProtocol)} ${String(local?.url)}`);
      row.route = [...new Set(routes)].join(' / ');
      for (const { local } of sides) {
        const proto = String(local?.relayProtocol) as 'udp' | 'tcp' | 'tls';
        if (!profile.relayProtocols.includes(proto))
          throw new Error(`relayed over ${proto}, expected ${profile.relayProtocols.join(' or ')}`);
      }
      row.call = 'ok media both ways';
      await alice.page.getByRole('button', { name: 'Hang up' }).click();
      await gone(alice.page.locator('.call-panel'), 15_000);
    } catch (e) {
      // What each person saw when the profile failed: artifacts/censorship/P?-NAME.png.
      const shots = join(repoRoot, 'artifacts/censorship');
      mkdirSync(shots, { recursive: true });
      for (const p of people) {
        await p.page
          .screenshot({ path: join(shots, `${profile.id}-${p.username}.png`), timeout: 10_000 })
          .catch(() => {});
        // The text on screen too, for a page that cannot even be photographed.
        const text = await withTimeout(
          p.page.evaluate(() => document.body?.innerText ?? '(no body)'),
          5000,
          'page text',
        ).catch((err: unknown) => `(unreadable: ${String(err)})`);
        log(`${profile.id} ${p.username} sees: ${text.replace(/\s+/g, ' ').slice(0, 300)}`);
      }
      throw e;
    } finally {
      for (const p of people) await p.context.close().catch(() => {});
    }
  }

  return {
    async run(profile) {
      const row: Row = {
        profile: profile.id,
        title: profile.title,
        pageLoad: 'FAIL',
        message: 'FAIL',
        call: 'FAIL',
        firstFrame: '-',
        route: '-',
        ok: false,
      };
      try {
        await withTimeout(scenario(profile, row), 240_000, profile.id);
        row.ok = true;
      } catch (e) {
        row.error = e instanceof Error ? (e.message.split('\n')[0] ?? e.message) : String(e);
        log(`${profile.id}: ${row.error}`);
      }
      return row;
    },
    close,
  };
}

export function table(rows: readonly Row[]): string {
  const head = [
    'profile',
    'page load',
    'message delivered',
    'call connected',
    'first decoded frame',
    'route',
  ];
  const body = rows.map((r) => [
    `${r.profile} ${r.title}`,
    r.pageLoad,
    r.message,
    r.call,
    r.firstFrame,
    r.route,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
