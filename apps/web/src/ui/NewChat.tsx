import { parseProxyLink, SdkError } from '@kolokol/sdk';
import { useCallback, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { usernameFromInput } from '../lib/route.ts';
import { Dialog, Field, QrScanner } from './common.tsx';
import { go, useMessenger } from './hooks.ts';
import { addProxy } from './proxy.ts';

/** Opens (finding or creating) the 1:1 chat with `username` and shows it; errors become toasts. Returns the error text. */
export function useStartChat(): (username: string) => Promise<string | undefined> {
  const m = useMessenger();
  return useCallback(
    async (username: string) => {
      if (username === m.client.username) return m.t('err.self');
      try {
        const conv = await m.client.openDirect(username);
        await m.reloadChats();
        go({ name: 'chat', id: conv.id });
        return undefined;
      } catch (e) {
        const text =
          e instanceof SdkError && e.code === 'NOT_FOUND'
            ? m.t('err.userNotFound', { username })
            : m.errorText(e);
        m.toast(text, 'error');
        return text;
      }
    },
    [m],
  );
}

export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const { t } = useT();
  const m = useMessenger();
  const start = useStartChat();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [scan, setScan] = useState(false);
  const submit = async (raw: string) => {
    // One scanner for every QR code a person is handed: whoever shows them a proxy's code should not
    // have to tell them to look for it in Settings instead.
    const proxy = parseProxyLink(raw);
    if (proxy !== undefined) {
      setError(undefined);
      // addProxy says in a toast what came of it; this dialog was never going to open a chat.
      await addProxy(m, proxy);
      onClose();
      return;
    }
    const username = usernameFromInput(raw);
    if (username === undefined) {
      setError(t(/^\s*kolokol:\/\/proxy\b/i.test(raw) ? 'network.badLink' : 'err.usernameInvalid'));
      return;
    }
    setBusy(true);
    setError(undefined);
    const err = await start(username);
    setBusy(false);
    if (err === undefined) onClose();
    else setError(err);
  };
  return (
    <Dialog title={t('newChat.title')} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit(value);
        }}
        aria-busy={busy}
      >
        <Field label={t('newChat.username')} hint={t('newChat.hint')} error={error}>
          {({ id, describedBy }) => (
            <input
              id={id}
              aria-describedby={describedBy}
              autoCapitalize="none"
              spellCheck={false}
              autoComplete="off"
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
          )}
        </Field>
        <div className="row">
          <button type="button" className="button" onClick={() => setScan(true)}>
            {t('newChat.scan')}
          </button>
          <button type="submit" className="button primary grow" disabled={busy || value.trim() === ''}>
            {busy ? t('newChat.starting') : t('newChat.start')}
          </button>
        </div>
        {m.local.contacts.length > 0 && (
          <>
            <h3>{t('newChat.contacts')}</h3>
            <ul className="plain">
              {m.local.contacts.map(({ userId, username: u }) => (
                <li key={userId}>
                  <button type="button" className="button link" onClick={() => void submit(u)}>
                    {m.nameOf(u)} <span className="muted">@{u}</span>
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
      </form>
      {scan && (
        <QrScanner
          onClose={() => setScan(false)}
          onResult={(text) => {
            setScan(false);
            setValue(text);
            void submit(text);
          }}
        />
      )}
    </Dialog>
  );
}

export function NewGroupDialog({ onClose }: { onClose: () => void }) {
  const { t } = useT();
  const m = useMessenger();
  const [title, setTitle] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    const names = members
      .split(/[\s,;]+/)
      .map((s) => usernameFromInput(s))
      .filter((s): s is string => s !== undefined && s !== m.client.username);
    setBusy(true);
    setError(undefined);
    try {
      const conv = await m.client.createGroup(title.trim(), [...new Set(names)]);
      await m.reloadChats();
      go({ name: 'chat', id: conv.id });
      onClose();
    } catch (e) {
      setError(
        e instanceof SdkError && e.code === 'NOT_FOUND'
          ? t('err.userNotFound', { username: names.join(', ') })
          : m.errorText(e),
      );
      setBusy(false);
    }
  };
  return (
    <Dialog title={t('newGroup.title')} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        aria-busy={busy}
      >
        <Field label={t('newGroup.name')}>
          {({ id }) => (
            <input
              id={id}
              required
              maxLength={200}
              value={title}
              onChange={(e) => setTitle(e.target.value)}
            />
          )}
        </Field>
        <Field label={t('newGroup.members')} hint={t('newGroup.membersHint')} error={error}>
          {({ id, describedBy }) => (
            <input
              id={id}
              aria-describedby={describedBy}
              autoCapitalize="none"
              spellCheck={false}
              value={members}
              onChange={(e) => setMembers(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="button primary wide" disabled={busy || title.trim() === ''}>
          {busy ? t('newGroup.creating') : t('newGroup.create')}
        </button>
      </form>
    </Dialog>
  );
}
