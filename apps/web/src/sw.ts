/// <reference lib="webworker" />
/**
 * The service worker: an offline shell (the app's built files, precached at install and served
 * cache-first; navigations fall back to index.html) and Web Push. A push carries no content, so
 * the notification says only "New message" in the user's language.
 */
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

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  // The API and anything cross-origin always go to the network.
  if (url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  if (req.mode === 'navigate') {
    // Network first for the page, so a new version shows at once when online; the cached shell offline.
    event.respondWith(
      fetch(req).catch(
        async () => (await caches.match('/')) ?? (await caches.match('/index.html')) ?? Response.error(),
      ),
    );
    return;
  }
  event.respondWith((async () => (await caches.match(req)) ?? fetch(req))());
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
      // An open, visible app shows its own in-app notification.
      if (open.some((c) => c.visibilityState === 'visible')) return;
      const lang = await language();
      await self.registration.showNotification(catalogs[lang]['notify.newMessage'], {
        icon: '/icon-192.png',
        badge: '/icon-192.png',
        tag: 'kolokol-new-message',
      });
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
