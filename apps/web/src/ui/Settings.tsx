import { type IndexedDbStore, parseProxyLink } from '@kolokol/sdk';
import { useEffect, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { inviteLink } from '../lib/route.ts';
import type { Messenger } from '../messenger.ts';
import { ext } from '../sdk/ext.ts';
import { wipeAndReload } from './boot.ts';
import {
  Avatar,
  avatarFromFile,
  Confirm,
  copyText,
  Dialog,
  dataUrlBytes,
  Field,
  Icon,
  IconButton,
  QrCode,
  QrScanner,
} from './common.tsx';
import { go, useMessenger } from './hooks.ts';
import { PrivacyRules } from './Privacy.tsx';
import { addProxy } from './proxy.ts';
import { pushState, subscribePush, unsubscribePush } from './push.ts';

declare const __APP_VERSION__: string;

export function Settings({ store }: { store: IndexedDbStore }) {
  const m = useMessenger();
  const { t } = useT();
  const x = ext(m.client);
  const [displayName, setDisplayName] = useState(m.profile.displayName ?? '');
  const [saved, setSaved] = useState(false);
  const [confirm, setConfirm] = useState<'logout' | 'delete'>();
  const [push, setPush] = useState<'unsupported' | 'denied' | 'off' | 'on'>('off');
  const link = inviteLink(location.origin, m.client.username);
  useEffect(() => {
    void pushState(m).then(setPush);
  }, [m]);

  const saveProfile = async (avatar?: string | null) => {
    const name = displayName.trim();
    try {
      if (x.setProfile !== undefined)
        await x.setProfile({
          displayName: name,
          ...(avatar === undefined ? {} : { avatar: avatar === null ? null : await dataUrlBytes(avatar) }),
        });
    } catch (e) {
      m.toast(m.errorText(e), 'error');
      return;
    }
    if (name === '') delete m.local.displayName;
    else m.local.displayName = name;
    if (avatar === null) delete m.local.avatar;
    else if (avatar !== undefined) m.local.avatar = avatar;
    const { displayName: _d, ...rest } = m.profile;
    m.profile = {
      ...rest,
      ...(m.local.displayName === undefined ? {} : { displayName: m.local.displayName }),
    };
    if (avatar === null) {
      const { avatar: _a, ...noAvatar } = m.profile;
      m.profile = noAvatar;
    }
    m.saveLocal();
    setSaved(true);
    setTimeout(() => setSaved(false), 2000);
  };

  return (
    <section className="page" aria-labelledby="settings-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'home' })} />
        <h2 id="settings-title">{t('settings.title')}</h2>
      </header>

      <section className="card-section" aria-labelledby="s-profile">
        <h3 id="s-profile">{t('settings.profile')}</h3>
        <div className="row">
          <Avatar
            name={m.nameOf(m.client.username)}
            id={m.client.userId}
            src={m.avatarOf(m.client.username)}
            size={72}
          />
          <div className="grow">
            <Field label={t('settings.avatar')}>
              {({ id }) => (
                <input
                  id={id}
                  type="file"
                  accept="image/*"
                  onChange={async (e) => {
                    const f = e.target.files?.[0];
                    if (f !== undefined) await saveProfile(await avatarFromFile(f));
                  }}
                />
              )}
            </Field>
            {m.avatarOf(m.client.username) !== undefined && (
              <button type="button" className="button small" onClick={() => void saveProfile(null)}>
                {t('settings.removeAvatar')}
              </button>
            )}
          </div>
        </div>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void saveProfile();
          }}
        >
          <Field label={t('settings.displayName')}>
            {({ id }) => (
              <div className="row">
                <input
                  id={id}
                  className="grow"
                  maxLength={64}
                  value={displayName}
                  onChange={(e) => setDisplayName(e.target.value)}
                />
                <button type="submit" className="button">
                  {t('settings.saveProfile')}
                </button>
              </div>
            )}
          </Field>
          {saved && <p role="status">{t('settings.saved')}</p>}
        </form>
        <p>
          {t('settings.username')}: <strong>@{m.client.username}</strong>
        </p>
      </section>

      <section className="card-section" aria-labelledby="s-invite">
        <h3 id="s-invite">{t('settings.invite')}</h3>
        <p className="hint">{t('settings.inviteHint')}</p>
        <div className="invite">
          <QrCode text={link} label={t('settings.invite')} size={160} />
          <div className="grow">
            <code className="payload">{link}</code>
            <div className="row wrap">
              <button
                type="button"
                className="button"
                onClick={async () => {
                  if (await copyText(link)) m.toast(t('common.copied'));
                }}
              >
                {t('settings.copyLink')}
              </button>
              {'share' in navigator && (
                <button
                  type="button"
                  className="button"
                  onClick={() => void navigator.share({ url: link }).catch(() => {})}
                >
                  {t('settings.share')}
                </button>
              )}
            </div>
          </div>
        </div>
      </section>

      <section className="card-section" aria-labelledby="s-look">
        <h3 id="s-look">{t('settings.appearance')}</h3>
        <fieldset className="radios">
          <legend>{t('settings.theme')}</legend>
          {(['system', 'light', 'dark'] as const).map((v) => (
            <label key={v}>
              <input
                type="radio"
                name="theme"
                checked={m.prefs.theme === v}
                onChange={() => m.setPrefs({ theme: v })}
              />
              {v === 'system'
                ? t('settings.themeSystem')
                : v === 'light'
                  ? t('settings.themeLight')
                  : t('settings.themeDark')}
            </label>
          ))}
        </fieldset>
        <Field label={t('settings.language')}>
          {({ id }) => (
            <select
              id={id}
              value={m.prefs.language}
              onChange={(e) => {
                const v = e.target.value;
                if (v === 'auto' || v === 'en' || v === 'ru') m.setPrefs({ language: v });
              }}
            >
              <option value="auto">{t('settings.languageAuto')}</option>
              <option value="en" lang="en">
                English
              </option>
              <option value="ru" lang="ru">
                Русский
              </option>
            </select>
          )}
        </Field>
      </section>

      <section className="card-section" aria-labelledby="s-privacy">
        <h3 id="s-privacy">{t('settings.privacy')}</h3>
        <Toggle
          label={t('settings.readReceipts')}
          hint={t('settings.readReceiptsHint')}
          checked={m.prefs.readReceipts}
          onChange={(v) => m.setPrefs({ readReceipts: v })}
        />
        <Toggle
          label={t('settings.typing')}
          checked={m.prefs.typingIndicators}
          onChange={(v) => m.setPrefs({ typingIndicators: v })}
        />
      </section>

      <PrivacyRules />

      <section className="card-section" aria-labelledby="s-notify">
        <h3 id="s-notify">{t('settings.notifications')}</h3>
        <Toggle
          label={t('settings.inApp')}
          checked={m.prefs.inAppNotifications}
          onChange={(v) => m.setPrefs({ inAppNotifications: v })}
        />
        {push === 'unsupported' ? (
          <p className="hint">{t('settings.pushUnavailable')}</p>
        ) : push === 'denied' ? (
          <p className="hint">{t('settings.pushDenied')}</p>
        ) : (
          <Toggle
            label={t('settings.push')}
            hint={t('settings.pushHint')}
            checked={push === 'on'}
            onChange={async (v) => {
              try {
                setPush(v ? await subscribePush(m) : await unsubscribePush(m));
              } catch (e) {
                m.toast(m.errorText(e), 'error');
              }
            }}
          />
        )}
      </section>

      <section className="card-section" aria-labelledby="s-account">
        <h3 id="s-account">{t('settings.account')}</h3>
        <nav className="stack" aria-label={t('settings.account')}>
          <a className="button" href="#/devices">
            <Icon name="devices" /> {t('settings.devices')}
          </a>
          <a className="button" href="#/contacts">
            <Icon name="contacts" /> {t('settings.contacts')}
          </a>
        </nav>
        <div className="row wrap">
          <button type="button" className="button" onClick={() => setConfirm('logout')}>
            {t('settings.logout')}
          </button>
          {x.deleteAccount !== undefined && (
            <button type="button" className="button danger" onClick={() => setConfirm('delete')}>
              {t('settings.delete')}
            </button>
          )}
        </div>
      </section>

      <Network m={m} />

      <section className="card-section" aria-labelledby="s-about">
        <h3 id="s-about">{t('settings.about')}</h3>
        <p className="muted">
          {t('settings.server', {
            server: m.info?.name ? `${m.info.name} · ${location.host}` : location.host,
          })}
        </p>
        <p className="muted">{t('settings.version', { version: __APP_VERSION__ })}</p>
      </section>

      {confirm === 'logout' && (
        <Confirm
          title={t('settings.logout')}
          text={t('settings.logoutConfirm')}
          confirmLabel={t('settings.logout')}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={async () => {
            try {
              if (x.logout !== undefined) await x.logout();
              else await m.client.revokeDevice(m.client.deviceId);
            } catch (e) {
              console.warn('kolokol: server-side logout failed; erasing locally anyway', e);
            }
            await unsubscribePush(m).catch(() => {});
            await m.stop().catch(() => {});
            await wipeAndReload(store);
          }}
        />
      )}
      {confirm === 'delete' && <DeleteAccount store={store} onClose={() => setConfirm(undefined)} />}
    </section>
  );
}

function DeleteAccount({ store, onClose }: { store: IndexedDbStore; onClose: () => void }) {
  const m = useMessenger();
  const { t } = useT();
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t('settings.delete')} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            await ext(m.client).deleteAccount?.();
            await m.stop().catch(() => {});
            await wipeAndReload(store);
          } catch (err) {
            m.toast(m.errorText(err), 'error');
            setBusy(false);
          }
        }}
      >
        <p>{t('settings.deleteConfirm')}</p>
        <Field label={t('settings.deleteConfirmLabel')}>
          {({ id }) => (
            <input id={id} autoCapitalize="none" value={typed} onChange={(e) => setTyped(e.target.value)} />
          )}
        </Field>
        <div className="row end">
          <button type="button" className="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button
            type="submit"
            className="button danger"
            disabled={busy || typed.trim().toLowerCase() !== m.client.username}
          >
            {t('settings.delete')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function Toggle({
  label,
  hint,
  checked,
  onChange,
}: {
  label: string;
  hint?: string;
  checked: boolean;
  onChange: (v: boolean) => void;
}) {
  return (
    <Field label={label} hint={hint}>
      {({ id, describedBy }) => (
        <input
          id={id}
          type="checkbox"
          role="switch"
          aria-checked={checked}
          className="switch"
          aria-describedby={describedBy}
          checked={checked}
          onChange={(e) => onChange(e.target.checked)}
        />
      )}
    </Field>
  );
}

/**
 * The ways this device reaches the server (fronts: its addresses and community proxies). A proxy
 * arrives as a `kolokol://proxy` link: pasted or scanned here, scanned in New chat, or tapped in a
 * chat (ProxyLinkButton).
 */
function Network({ m }: { m: Messenger }) {
  const { t } = useT();
  const [fronts, setFronts] = useState(() => [...m.client.fronts.all()]);
  const [current, setCurrent] = useState(m.client.fronts.current);
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const [scan, setScan] = useState(false);
  useEffect(() => {
    const sync = () => {
      setCurrent(m.client.fronts.current);
      setFronts([...m.client.fronts.all()]);
    };
    const off = m.client.fronts.onChange(sync);
    // The list may have grown between the first render and this subscription (the client loads
    // the kept fronts while the app starts).
    sync();
    return off;
  }, [m]);
  const add = async () => {
    const proxy = parseProxyLink(text);
    if (proxy === undefined) {
      setError(t('network.badLink'));
      return;
    }
    setError(undefined);
    const added = await addProxy(m, proxy);
    if (added) setText('');
    setFronts([...m.client.fronts.all()]);
  };
  const scanned = async (code: string) => {
    setScan(false);
    const proxy = parseProxyLink(code);
    if (proxy === undefined) {
      setError(t('network.badLink'));
      return;
    }
    setError(undefined);
    await addProxy(m, proxy);
    setFronts([...m.client.fronts.all()]);
  };
  return (
    <section className="card-section" aria-labelledby="s-network">
      <h3 id="s-network">{t('network.title')}</h3>
      <p className="hint">{t('network.hint')}</p>
      <ul aria-label={t('network.list')} className="stack">
        {fronts.map((f) => (
          <li key={f}>
            <code>{f}</code> {f === current && <strong>{t('network.inUse')}</strong>}
          </li>
        ))}
      </ul>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <Field label={t('network.proxyLink')} hint={t('network.proxyHint')} error={error}>
          {({ id, describedBy }) => (
            <input
              id={id}
              aria-describedby={describedBy}
              value={text}
              placeholder={t('network.placeholder')}
              onChange={(e) => setText(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="button" disabled={text.trim() === ''}>
          {t('network.add')}
        </button>
        <button type="button" className="button" onClick={() => setScan(true)}>
          <Icon name="qr" /> {t('network.scan')}
        </button>
      </form>
      {scan && <QrScanner onClose={() => setScan(false)} onResult={(code) => void scanned(code)} />}
    </section>
  );
}
