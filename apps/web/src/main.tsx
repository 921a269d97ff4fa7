import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { initI18n } from './i18n/react.ts';
import { loadPrefs } from './messenger.ts';
import { App } from './ui/App.tsx';
import './styles.css';

// The theme is applied before the first paint, so a dark-mode user never sees a white flash.
const prefs = loadPrefs();
const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
document.documentElement.dataset.theme = prefs.theme === 'system' ? (dark ? 'dark' : 'light') : prefs.theme;

await initI18n(prefs.language);

const root = document.getElementById('root');
if (root !== null)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker
    .register('/sw.js', { scope: '/' })
    .catch((e: unknown) => console.warn('kolokol: service worker', e));
  navigator.serviceWorker.addEventListener('message', (e: MessageEvent) => {
    const data = e.data as { type?: string; conversationId?: string } | null;
    if (data?.type === 'open' && typeof data.conversationId === 'string')
      location.hash = `#/c/${encodeURIComponent(data.conversationId)}`;
  });
}
