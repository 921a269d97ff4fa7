import { useState } from 'react';
import { useT } from '../i18n/react.ts';
import { usernameFromInput } from '../lib/route.ts';
import { Avatar, Field, IconButton } from './common.tsx';
import { go, useMessenger } from './hooks.ts';
import { useStartChat } from './NewChat.tsx';

export function Contacts() {
  const m = useMessenger();
  const { t } = useT();
  const start = useStartChat();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  return (
    <section className="page" aria-labelledby="contacts-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'home' })} />
        <h2 id="contacts-title">{t('contacts.title')}</h2>
      </header>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const u = usernameFromInput(value);
          if (u === undefined) {
            setError(t('err.usernameInvalid'));
            return;
          }
          setError(undefined);
          try {
            await m.setContact(u, true);
            setValue('');
          } catch (err) {
            setError(m.errorText(err));
          }
        }}
      >
        <Field label={t('contacts.username')} error={error}>
          {({ id, describedBy }) => (
            <div className="row">
              <input
                id={id}
                className="grow"
                aria-describedby={describedBy}
                autoCapitalize="none"
                value={value}
                onChange={(e) => setValue(e.target.value)}
              />
              <button type="submit" className="button">
                {t('contacts.add')}
              </button>
            </div>
          )}
        </Field>
      </form>
      <ul className="plain members" aria-label={t('contacts.title')}>
        {m.local.contacts.map(({ userId, username: u }) => (
          <li key={userId} className="member">
            <Avatar name={m.nameOf(u)} id={userId} src={m.avatarOf(u)} size={36} />
            <span className="grow">
              {m.nameOf(u)} <span className="muted">@{u}</span>
            </span>
            <button type="button" className="button small" onClick={() => void start(u)}>
              {t('contacts.message', { username: u })}
            </button>
            <IconButton
              icon="trash"
              label={t('contacts.remove', { username: u })}
              onClick={() => void m.setContact(u, false)}
            />
          </li>
        ))}
      </ul>
      {m.local.contacts.length === 0 && <p className="muted">{t('contacts.empty')}</p>}
      <h3>{t('contacts.blocked')}</h3>
      <ul className="plain members" aria-label={t('contacts.blocked')}>
        {m.local.blocked.map((u) => (
          <li key={u.userId} className="member">
            <span className="grow">@{u.username}</span>
            <button type="button" className="button small" onClick={() => void m.block(u, false)}>
              {t('contacts.unblock', { username: u.username })}
            </button>
          </li>
        ))}
      </ul>
      {m.local.blocked.length === 0 && <p className="muted">{t('contacts.noBlocked')}</p>}
    </section>
  );
}
