import { USERNAME_RE } from '@kolokol/protocol';
import { type IndexedDbStore, KolokolClient, SdkError } from '@kolokol/sdk';
import { type ReactNode, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { linkCodeFromInput, normalizeUsername, parseRoute } from '../lib/route.ts';
import type { ServerInfo } from '../messenger.ts';
import { ext } from '../sdk/ext.ts';
import { Logo } from './App.tsx';
import { deviceName } from './boot.ts';
import { Avatar, avatarFromFile, dataUrlBytes, Field, QrScanner } from './common.tsx';

export function Onboarding({
  store,
  info,
  onReady,
}: {
  store: IndexedDbStore;
  info: ServerInfo | undefined;
  onReady: (c: KolokolClient) => Promise<void>;
}) {
  const { t } = useT();
  const [tab, setTab] = useState<TabName>('create');
  const invite = parseRoute(location.hash);
  return (
    <main className="onboarding">
      <div className="card">
        <div className="brand">
          <Logo />
          <h1>{t('app.name')}</h1>
          <p>{t('app.tagline')}</p>
        </div>
        {invite.name === 'invite' && (
          <p className="notice">{t('onboard.inviteFor', { username: invite.username })}</p>
        )}
        <div role="tablist" aria-label={t('onboard.tabs')} className="tabs">
          <Tab name="create" other="link" tab={tab} setTab={setTab}>
            {t('onboard.create')}
          </Tab>
          <Tab name="link" other="create" tab={tab} setTab={setTab}>
            {t('onboard.link')}
          </Tab>
        </div>
        {tab === 'create' ? (
          <div role="tabpanel" id="panel-create" aria-labelledby="tab-create">
            <CreateForm store={store} info={info} onReady={onReady} />
          </div>
        ) : (
          <div role="tabpanel" id="panel-link" aria-labelledby="tab-link">
            <LinkForm store={store} onReady={onReady} />
          </div>
        )}
        <p className="hint center">
          <span aria-hidden="true">🔒 </span>
          {t('onboard.keysNote')}
        </p>
      </div>
    </main>
  );
}

function CreateForm({
  store,
  info,
  onReady,
}: {
  store: IndexedDbStore;
  info: ServerInfo | undefined;
  onReady: (c: KolokolClient) => Promise<void>;
}) {
  const { t } = useT();
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [inviteCode, setInviteCode] = useState('');
  const [avatar, setAvatar] = useState<string>();
  const [error, setError] = useState<string>();
  const [usernameError, setUsernameError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const name = normalizeUsername(username);
    if (!USERNAME_RE.test(name)) {
      setUsernameError(t('err.usernameInvalid'));
      return;
    }
    setUsernameError(undefined);
    setError(undefined);
    setBusy(true);
    try {
      const client = await KolokolClient.register({
        server: location.origin,
        username: name,
        store,
        deviceName: deviceName(),
        ...(displayName.trim() === '' ? {} : { displayName: displayName.trim() }),
        ...(inviteCode.trim() === '' ? {} : { inviteCode: inviteCode.trim() }),
      });
      const local = {
        ...(displayName.trim() === '' ? {} : { displayName: displayName.trim() }),
        ...(avatar === undefined ? {} : { avatar }),
      };
      localStorage.setItem(`kolokol:local:${client.userId}`, JSON.stringify(local));
      const x = ext(client);
      // The profile travels end-to-end to everyone we talk to; the server's copy of the display
      // name is only what it was told at sign-up.
      if (x.setProfile !== undefined && (avatar !== undefined || displayName.trim() !== ''))
        await x
          .setProfile({
            ...(displayName.trim() === '' ? {} : { displayName: displayName.trim() }),
            ...(avatar === undefined ? {} : { avatar: await dataUrlBytes(avatar) }),
          })
          .catch((e: unknown) => console.warn('kolokol: profile', e));
      await onReady(client);
    } catch (err) {
      const code = err instanceof SdkError ? err.code : '';
      if (code === 'USERNAME_TAKEN') setUsernameError(t('err.usernameTaken'));
      else if (code === 'INVITE_REQUIRED' || code === 'INVALID_INVITE') setError(t('err.inviteRequired'));
      else if (code === 'NETWORK' || code === 'TIMEOUT') setError(t('err.network'));
      else setError(t('err.generic', { message: err instanceof Error ? err.message : String(err) }));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-busy={busy}>
      <Field label={t('onboard.username')} hint={t('onboard.usernameHint')} error={usernameError}>
        {({ id, describedBy }) => (
          <input
            id={id}
            aria-describedby={describedBy}
            aria-invalid={usernameError !== undefined}
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        )}
      </Field>
      <Field label={t('onboard.displayName')} hint={t('onboard.displayNameHint')}>
        {({ id, describedBy }) => (
          <input
            id={id}
            aria-describedby={describedBy}
            autoComplete="name"
            maxLength={64}
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
          />
        )}
      </Field>
      <Field label={t('onboard.avatar')} hint={t('onboard.avatarHint')}>
        {({ id, describedBy }) => (
          <div className="row">
            {avatar !== undefined && (
              <Avatar name={displayName || username} id={username} src={avatar} size={48} />
            )}
            <input
              id={id}
              type="file"
              accept="image/*"
              aria-describedby={describedBy}
              onChange={async (e) => {
                const f = e.target.files?.[0];
                if (f !== undefined) setAvatar(await avatarFromFile(f).catch(() => undefined));
              }}
            />
          </div>
        )}
      </Field>
      {info?.registration === 'invite' && (
        <Field label={t('onboard.invite')} hint={t('onboard.inviteHint')}>
          {({ id, describedBy }) => (
            <input
              id={id}
              aria-describedby={describedBy}
              value={inviteCode}
              onChange={(e) => setInviteCode(e.target.value)}
            />
          )}
        </Field>
      )}
      {error !== undefined && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button primary wide" disabled={busy}>
        {t('onboard.create')}
      </button>
      {busy && (
        <p className="hint center" role="status">
          {t('onboard.creating')}
        </p>
      )}
    </form>
  );
}

function LinkForm({
  store,
  onReady,
}: {
  store: IndexedDbStore;
  onReady: (c: KolokolClient) => Promise<void>;
}) {
  const { t } = useT();
  const [code, setCode] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [scan, setScan] = useState(false);

  const link = async (raw: string) => {
    const c = linkCodeFromInput(raw);
    if (c === undefined) {
      setError(t('err.badCode'));
      return;
    }
    setError(undefined);
    setBusy(true);
    try {
      const client = await KolokolClient.link({
        server: location.origin,
        code: c,
        store,
        deviceName: deviceName(),
      });
      await onReady(client);
    } catch (err) {
      const codeName = err instanceof SdkError ? err.code : '';
      setError(
        codeName === 'NETWORK'
          ? t('err.network')
          : codeName === 'NOT_FOUND' ||
              codeName === 'LINK_EXPIRED' ||
              codeName === 'DECRYPT' ||
              codeName === 'INVALID_ARGUMENT'
            ? t('err.badCode')
            : t('err.generic', { message: err instanceof Error ? err.message : String(err) }),
      );
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void link(code);
      }}
      aria-busy={busy}
    >
      <p>{t('onboard.linkIntro')}</p>
      <Field label={t('onboard.code')} error={error}>
        {({ id, describedBy }) => (
          <textarea
            id={id}
            aria-describedby={describedBy}
            rows={3}
            spellCheck={false}
            autoCapitalize="none"
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        )}
      </Field>
      <div className="row">
        <button type="button" className="button" onClick={() => setScan(true)}>
          {t('onboard.scan')}
        </button>
        <button type="submit" className="button primary grow" disabled={busy || code.trim() === ''}>
          {busy ? t('onboard.linking') : t('onboard.linkButton')}
        </button>
      </div>
      {scan && (
        <QrScanner
          onClose={() => setScan(false)}
          onResult={(text) => {
            setScan(false);
            setCode(text);
            void link(text);
          }}
        />
      )}
    </form>
  );
}

type TabName = 'create' | 'link';

/** One of the two tabs; the arrow keys move to the other one, as the ARIA tabs pattern asks. */
function Tab(props: {
  name: TabName;
  other: TabName;
  tab: TabName;
  setTab: (t: TabName) => void;
  children: ReactNode;
}) {
  const { name, other, tab, setTab } = props;
  return (
    <button
      type="button"
      role="tab"
      id={`tab-${name}`}
      aria-selected={tab === name}
      aria-controls={`panel-${name}`}
      tabIndex={tab === name ? 0 : -1}
      onClick={() => setTab(name)}
      onKeyDown={(e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          setTab(other);
          document.getElementById(`tab-${other}`)?.focus();
        }
      }}
    >
      {props.children}
    </button>
  );
}
