import { effectiveAdmins } from '@kolokol/sdk';
import { useState } from 'react';
import { useT } from '../i18n/react.ts';
import { usernameFromInput } from '../lib/route.ts';
import { ext } from '../sdk/ext.ts';
import { Avatar, Confirm, Field, Icon, IconButton } from './common.tsx';
import { go, useMessenger } from './hooks.ts';

export function ChatInfo({ id }: { id: string }) {
  const m = useMessenger();
  const { t, tp } = useT();
  const chat = m.chat(id);
  const [title, setTitle] = useState(chat?.title ?? '');
  const [adding, setAdding] = useState('');
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState<'leave' | 'block'>();
  if (chat === undefined) return <p className="placeholder">{t('chat.notFound')}</p>;
  const x = ext(m.client);
  const peer = chat.kind === 'direct' ? chat.peer : undefined;
  const name = m.chatTitle(chat);
  // The same rule every member device applies (SDK groups.ts): admins still in the group, or
  // everyone when none is. Controls an admin alone may use are hidden from the others.
  const admins = chat.kind === 'group' ? effectiveAdmins(chat) : [];
  const amAdmin = admins.includes(m.client.userId);
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      await m.reloadChats();
    } catch (e) {
      m.toast(m.errorText(e), 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="page" aria-labelledby="info-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'chat', id })} />
        <h2 id="info-title">{t('info.title')}</h2>
      </header>
      <div className="profile-card">
        <Avatar
          name={name}
          id={peer?.userId ?? id}
          src={peer === undefined ? undefined : m.avatarOf(peer.username)}
          size={96}
        />
        <h3>{name}</h3>
        <p className="muted">
          {peer !== undefined ? `@${peer.username}` : tp('chat.members', chat.members.length)}
        </p>
      </div>

      <section className="card-section" aria-labelledby="enc-title">
        <h3 id="enc-title">{t('info.encryption')}</h3>
        <p>
          <Icon name="lock" size={16} /> {t('chat.encryptionNote')}
        </p>
        {peer !== undefined && (
          <a
            className="button"
            href={`#/c/${encodeURIComponent(id)}/safety/${encodeURIComponent(peer.username)}`}
          >
            <Icon name="shield" /> {t('info.safety', { name })}
          </a>
        )}
      </section>

      {chat.kind === 'group' && !chat.left && (
        <>
          {x.renameGroup !== undefined && amAdmin && (
            <form
              className="card-section"
              onSubmit={(e) => {
                e.preventDefault();
                void run(async () => x.renameGroup?.(id, title.trim()));
              }}
            >
              <Field label={t('info.rename')}>
                {({ id: fid }) => (
                  <div className="row">
                    <input
                      id={fid}
                      className="grow"
                      value={title}
                      maxLength={200}
                      onChange={(e) => setTitle(e.target.value)}
                    />
                    <button type="submit" className="button" disabled={busy || title.trim() === ''}>
                      {t('info.save')}
                    </button>
                  </div>
                )}
              </Field>
            </form>
          )}
          <section className="card-section" aria-labelledby="members-title">
            <h3 id="members-title">{t('info.members')}</h3>
            {x.setAdmin !== undefined && (
              <p className="hint">{t(amAdmin ? 'info.adminsNote' : 'info.notAdminNote')}</p>
            )}
            <ul className="plain members">
              {chat.members.map((u) => {
                const me = u.userId === m.client.userId;
                const uname = m.nameOf(u.username);
                return (
                  <li key={u.userId} className="member">
                    <Avatar name={uname} id={u.userId} src={m.avatarOf(u.username)} size={36} />
                    <span className="grow">
                      {me ? t('info.you', { name: uname }) : uname}{' '}
                      <span className="muted">@{u.username}</span>
                      {admins.includes(u.userId) && <span className="tag">{t('info.admin')}</span>}
                    </span>
                    {!me && (
                      <>
                        <a
                          className="icon-button"
                          href={`#/c/${encodeURIComponent(id)}/safety/${encodeURIComponent(u.username)}`}
                          aria-label={t('info.safety', { name: uname })}
                          title={t('info.safety', { name: uname })}
                        >
                          <Icon name={m.isVerified(u.username) ? 'shield' : 'lock'} />
                        </a>
                        {x.setAdmin !== undefined && amAdmin && (
                          <button
                            type="button"
                            className="button small"
                            disabled={busy}
                            onClick={() =>
                              void run(async () => x.setAdmin?.(id, u.userId, !admins.includes(u.userId)))
                            }
                          >
                            {admins.includes(u.userId)
                              ? t('info.removeAdmin', { name: uname })
                              : t('info.makeAdmin', { name: uname })}
                          </button>
                        )}
                        {amAdmin && (
                          <IconButton
                            icon="trash"
                            label={t('info.remove', { name: uname })}
                            disabled={busy}
                            onClick={() => void run(() => m.client.removeMember(id, u.username))}
                          />
                        )}
                      </>
                    )}
                  </li>
                );
              })}
            </ul>
            {amAdmin && (
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  const names = adding
                    .split(/[\s,;]+/)
                    .map((s) => usernameFromInput(s))
                    .filter((s): s is string => s !== undefined);
                  if (names.length === 0) return;
                  void run(async () => {
                    await m.client.addMembers(id, names);
                    setAdding('');
                  });
                }}
              >
                <Field label={t('info.add')} hint={t('newGroup.membersHint')}>
                  {({ id: fid, describedBy }) => (
                    <div className="row">
                      <input
                        id={fid}
                        className="grow"
                        aria-describedby={describedBy}
                        autoCapitalize="none"
                        value={adding}
                        onChange={(e) => setAdding(e.target.value)}
                      />
                      <button type="submit" className="button" disabled={busy || adding.trim() === ''}>
                        {t('info.addButton')}
                      </button>
                    </div>
                  )}
                </Field>
              </form>
            )}
          </section>
          <button type="button" className="button danger" onClick={() => setConfirm('leave')}>
            {t('info.leave')}
          </button>
        </>
      )}

      {peer !== undefined && (
        <section className="card-section">
          <button
            type="button"
            className="button"
            onClick={() => void run(() => m.setContact(peer.username, !m.isContact(peer.username)))}
          >
            {m.isContact(peer.username) ? t('info.removeContact') : t('info.addContact')}
          </button>
          {m.isBlocked(peer.username) ? (
            <button type="button" className="button" onClick={() => void run(() => m.block(peer, false))}>
              {t('info.unblock', { username: peer.username })}
            </button>
          ) : (
            <button type="button" className="button danger" onClick={() => setConfirm('block')}>
              {t('info.block', { username: peer.username })}
            </button>
          )}
        </section>
      )}
      {confirm === 'leave' && (
        <Confirm
          title={t('info.leave')}
          text={t('info.leaveConfirm')}
          confirmLabel={t('info.leave')}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={() =>
            run(async () => {
              await m.client.leave(id);
              go({ name: 'home' });
            })
          }
        />
      )}
      {confirm === 'block' && peer !== undefined && (
        <Confirm
          title={t('info.block', { username: peer.username })}
          text={t('info.blockConfirm', { username: peer.username })}
          confirmLabel={t('info.block', { username: peer.username })}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={() => run(() => m.block(peer, true))}
        />
      )}
    </section>
  );
}
