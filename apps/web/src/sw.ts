/// <reference lib="webworker" />
/**
 * The service worker: an offline shell (the app's built files, precached at install and served
 * cache-first; navigations fall back to index.html) and Web Push. A push carries no content, only
 * its kind (PushPayload): the notification says "New message", "Incoming call" (replaced by
 * "Missed call" when the caller gives up) in the user's language.
 */
import { PushPayload } from '@kolokol/protocol';
import { catalogs, type Language } from './i18n/catalog.ts';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: { url: string; revision: string | null }[] };

const CACHE = 'kolokol-shell-v1';
const LANG_KEY = '/__kolokol/lang';
const manifest = self.__WB_MANIFEST;
const urls = [...new Set(['/', ...manifest.map((e) => `/${e.url.replace(/^\//, '')}`)])];
const version = manifest.map((e) => `${e.url}@${e.revision ?? ''}`).join('|');

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const stamp = await cache.match('/__kolokol/version');
      if ((await stamp?.text()) !== version) {
        // File by file, not addAll: one failed fetch must not leave the app without a worker (and
        // so without push). The stamp is written only when all arrived, so the next install retries.
        const results = await Promise.allSettled(
          urls.map(async (u) => {
            const res = await fetch(new Request(u, { cache: 'reload' }));
            if (!res.ok) throw new Error(`${u}: ${res.status}`);
            await cache.put(u, res);
          }),
        );
        if (results.every((r) => r.status === 'fulfilled'))
          await cache.put('/__kolokol/version', new Response(version));
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

/** How long a page load waits for the network before the cached shell opens instead. */
const NAVIGATION_WAIT_MS = 4000;

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  // The API and anything cross-origin always go to the network.
  if (url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  if (req.mode === 'navigate') {
    // Network first for the page, so a new version shows at once when online; the cached shell
    // offline, and also when the network neither answers nor fails: a censor may freeze a
    // connection instead of refusing it (brief, profile P5), and the app must still open and
    // reach the server through another front.
    const shell = async () =>
      (await caches.match('/', { ignoreVary: true })) ??
      (await caches.match('/index.html', { ignoreVary: true })) ??
      Response.error();
    event.respondWith(
      (async () => {
        const network = fetch(req);
        const cached = await shell();
        if (cached.type === 'error') return network.catch(() => cached);
        const timer = new Promise<Response>((resolve) =>
          setTimeout(() => resolve(cached), NAVIGATION_WAIT_MS),
        );
        return Promise.race([network.catch(() => cached), timer]);
      })(),
    );
    return;
  }
  // ignoreVary: the server answers `Vary: Origin` (its CORS for fronts), and a module script's
  // request carries an Origin header that the precache request did not: the file is the same.
  event.respondWith((async () => (await caches.match(req, { ignoreVary: true })) ?? fetch(req))());
});

async function language(): Promise<Language> {
  const cache = await caches.open(CACHE);
  const saved = await (await cache.match(LANG_KEY))?.text();
  if (saved === 'ru' || saved === 'en') return saved;
  return self.navigator.language.toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

self.addEventListener('message', (event) => {
  const data = event.data as { type?: string; lang?: string } | null;
  if (data?.type === 'language' && (data.lang === 'en' || data.lang === 'ru')) {
    const lang = data.lang;
    event.waitUntil(caches.open(CACHE).then((c) => c.put(LANG_KEY, new Response(lang))));
  }
});

self.addEventListener('push', (event) => {
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      // An open, visible app shows its own in-app notification (and rings itself).
      if (open.some((c) => c.visibilityState === 'visible')) return;
      let raw: unknown;
      try {
        raw = event.data?.json();
      } catch {
        raw = undefined;
      }
      // Unknown or missing payloads are treated as a plain wake: something arrived.
      const parsed = PushPayload.safeParse(raw);
      const kind = parsed.success ? parsed.data.t : 'wake';
      const t = catalogs[await language()];
      const common = { icon: '/icon-192.png', badge: '/icon-192.png' };
      if (kind === 'wake') {
        await self.registration.showNotification(t['notify.newMessage'], {
          ...common,
          tag: 'kolokol-new-message',
        });
        return;
      }
      // One tag for a call's ring and its end: "Missed call" replaces "Incoming call", and
      // `renotify` (Chromium; not in TypeScript's DOM types) makes the replacement sound again.
      const call: NotificationOptions & { renotify: boolean } = {
        ...common,
        tag: 'kolokol-call',
        renotify: true,
      };
      if (kind === 'call') {
        const ring: NotificationOptions & { renotify: boolean } = {
          ...call,
          body: t['notify.incomingCallBody'],
          requireInteraction: true,
        };
        await self.registration.showNotification(t['notify.incomingCall'], ring);
        return;
      }
      await self.registration.showNotification(t['notify.missedCall'], call);
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data as { conversationId?: string } | null;
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const client = open[0];
      if (client !== undefined) {
        await client.focus();
        if (typeof data?.conversationId === 'string')
          client.postMessage({ type: 'open', conversationId: data.conversationId });
        return;
      }
      const hash =
        typeof data?.conversationId === 'string' ? `#/c/${encodeURIComponent(data.conversationId)}` : '';
      await self.clients.openWindow(`/${hash}`);
    })(),
  );
});
