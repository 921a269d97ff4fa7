import { type IndexedDbStore, type KolokolClient, SdkError } from '@kolokol/sdk';
import { useCallback, useEffect, useState } from 'react';
import { setLanguage, useT } from '../i18n/react.ts';
import type { Prefs } from '../lib/local.ts';
import { fetchServerInfo, loadPrefs, Messenger, type ServerInfo } from '../messenger.ts';
import { openClient, openStore, wipeAndReload } from './boot.ts';
import { MessengerContext, useMediaQuery, useMessenger } from './hooks.ts';
import { Onboarding } from './Onboarding.tsx';
import { Shell } from './Shell.tsx';

type Boot =
  | { state: 'loading' }
  /** insecure: no WebCrypto (plain http to another host); storage: no IndexedDB; unreadable: sealed records that do not open. */
  | { state: 'error'; why: 'insecure' | 'storage' | 'unreadable'; store?: IndexedDbStore }
  | { state: 'onboard'; store: IndexedDbStore; info: ServerInfo | undefined }
  | { state: 'ready'; store: IndexedDbStore; messenger: Messenger };

/** How long a signed-in start waits for GET /v1/info before it opens without it. */
const INFO_WAIT_MS = 1500;
export function App() {
  const { t, lang } = useT();
  const [boot, setBoot] = useState<Boot>({ state: 'loading' });

  const start = useCallback(
    async (store: IndexedDbStore, client: KolokolClient, info: ServerInfo | undefined) => {
      const m = new Messenger(client, loadPrefs());
      m.info = info;
      await m.start();
      setBoot({ state: 'ready', store, messenger: m });
    },
    [],
  );

  useEffect(() => {
    let live = true;
    (async () => {
      // The store seals its records with WebCrypto, which browsers offer only in a secure context
      // (https, or http on localhost): say so rather than fail obscurely.
      if (!window.isSecureContext || globalThis.crypto?.subtle === undefined) {
        if (live) setBoot({ state: 'error', why: 'insecure' });
        return;
      }
      let store: IndexedDbStore;
      try {
        store = await openStore();
      } catch {
        if (live) setBoot({ state: 'error', why: 'storage' });
        return;
      }
      let client: KolokolClient | undefined;
      let info: ServerInfo | undefined;
      try {
        const infoP = fetchServerInfo(location.origin);
        client = await openClient(store);
        // Someone already signed in does not wait long for it: this address may be the one a
        // censor froze, and the app reaches the server through its other fronts (the SDK).
        info =
          client === undefined
            ? await infoP
            : await Promise.race([infoP, new Promise<undefined>((r) => setTimeout(r, INFO_WAIT_MS))]);
      } catch (e) {
        // A sealed record that does not open: its key is gone or the data was changed. Nothing
        // here can recover it; this device can start over (the account lives on other devices).
        if (live)
          setBoot({
            state: 'error',
            why: e instanceof SdkError && e.code === 'STORE' ? 'unreadable' : 'storage',
            store,
          });
        return;
      }
      if (!live) return;
      if (client === undefined) setBoot({ state: 'onboard', store, info });
      else await start(store, client, info);
    })();
    return () => {
      live = false;
    };
  }, [start]);

  useEffect(() => {
    if (boot.state === 'ready') boot.messenger.lang = lang;
  }, [boot, lang]);

  if (boot.state === 'loading')
    return (
      <div className="splash" role="status">
        <Logo />
        <p>{t('app.loading')}</p>
      </div>
    );
  if (boot.state === 'error')
    return (
      <div className="splash">
        <Logo />
        <p role="alert">
          {t(
            boot.why === 'insecure'
              ? 'app.insecureContext'
              : boot.why === 'unreadable'
                ? 'app.unreadableStore'
                : 'app.storageError',
          )}
        </p>
        {boot.why === 'unreadable' && (
          <button type="button" className="button primary" onClick={() => void wipeAndReload(boot.store)}>
            {t('app.startOver')}
          </button>
        )}
      </div>
    );
  if (boot.state === 'onboard')
    return (
      <FollowTheme choice={loadPrefs().theme}>
        <Onboarding store={boot.store} info={boot.info} onReady={(c) => start(boot.store, c, boot.info)} />
      </FollowTheme>
    );
  return (
    <MessengerContext.Provider value={boot.messenger}>
      <Themed>
        <Ready store={boot.store} />
      </Themed>
    </MessengerContext.Provider>
  );
}

function Ready({ store }: { store: IndexedDbStore }) {
  const m = useMessenger();
  const { t } = useT();
  if (m.revoked)
    return (
      <div className="splash">
        <Logo />
        <p role="alert">{t('err.revoked')}</p>
        <button type="button" className="button primary" onClick={() => void wipeAndReload(store)}>
          {t('common.ok')}
        </button>
      </div>
    );
  return <Shell store={store} />;
}

/** Keeps the document's theme on the choice, following the system's light or dark while it is 'system'. */
function useTheme(choice: Prefs['theme']): void {
  const dark = useMediaQuery('(prefers-color-scheme: dark)');
  const theme = choice === 'system' ? (dark ? 'dark' : 'light') : choice;
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    document
      .querySelector('meta[name="theme-color"]')
      ?.setAttribute('content', theme === 'dark' ? '#17212b' : '#ffffff');
  }, [theme]);
}

/** Before there is an account (no messenger yet) the screen still follows a change of the system theme. */
function FollowTheme({ choice, children }: { choice: Prefs['theme']; children: React.ReactNode }) {
  useTheme(choice);
  return <>{children}</>;
}

/** Applies the theme and language preferences to the document. */
function Themed({ children }: { children: React.ReactNode }) {
  const m = useMessenger();
  useTheme(m.prefs.theme);
  const language = m.prefs.language;
  useEffect(() => {
    void setLanguage(language);
  }, [language]);
  const unread = m.totalUnread();
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${m.t('app.name')}` : m.t('app.name');
  }, [unread, m]);
  return <>{children}</>;
}

export function Logo() {
  return (
    <svg className="logo" width="56" height="56" viewBox="0 0 64 64" aria-hidden="true">
      <rect width="64" height="64" rx="16" fill="var(--accent)" />
      <path
        d="M32 14c-7 0-12 5-12 12v9l-4 6h32l-4-6v-9c0-7-5-12-12-12Zm-5 30a5 5 0 0 0 10 0"
        fill="none"
        stroke="#fff"
        strokeWidth="3.5"
        strokeLinejoin="round"
      />
    </svg>
  );
}
