import type { IndexedDbStore } from '@kolokol/sdk';
import { useEffect, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { listTime } from '../lib/format.ts';
import { usernameFromInput } from '../lib/route.ts';
import { matchesChat } from '../lib/search.ts';
import type { Messenger } from '../messenger.ts';
import { attachmentOf, type Chat, type Message, textOf } from '../sdk/ext.ts';
import { CallHistoryButton, CallLayer } from './Call.tsx';
import { ChatInfo } from './ChatInfo.tsx';
import { ChatView } from './ChatView.tsx';
import { Contacts } from './Contacts.tsx';
import { Avatar, Icon, IconButton } from './common.tsx';
import { Devices } from './Devices.tsx';
import { go, useMediaQuery, useMessenger, useRoute } from './hooks.ts';
import { NewChatDialog, NewGroupDialog, useStartChat } from './NewChat.tsx';
import { RequestsPage, RequestView, SuspendedPage, WarningDialog } from './Requests.tsx';
import { Safety } from './Safety.tsx';
import { Settings } from './Settings.tsx';

export function Shell({ store }: { store: IndexedDbStore }) {
  const route = useRoute();
  const narrow = useMediaQuery('(max-width: 720px)');
  const showList = !narrow || route.name === 'home';
  const showMain = !narrow || route.name !== 'home';
  const { t } = useT();
  const m = useMessenger();
  if (m.consent.suspended !== undefined) {
    return (
      <div className="shell">
        <main className="main" id="main">
          <SuspendedPage />
        </main>
        <Toasts />
      </div>
    );
  }
  return (
    <div className="shell">
      {route.name === 'chat' && (
        <button type="button" className="skip" onClick={() => document.getElementById('composer')?.focus()}>
          {t('app.skip')}
        </button>
      )}
      <UpdateBanner />
      {/* The one level-one heading, in a banner landmark; what is on screen below it varies with
          the width and the route. */}
      <header className="sr-only">
        <h1>{t('app.name')}</h1>
      </header>
      {showList && showMain && <Sidebar />}
      {/* A phone shows the chat list alone: then it is the main content. */}
      {showList && !showMain && (
        <main className="main" id="main">
          <Sidebar />
        </main>
      )}
      {showMain && (
        <main className="main" id="main">
          {route.name === 'chat' && <ChatView key={route.id} id={route.id} />}
          {route.name === 'chatInfo' && <ChatInfo id={route.id} />}
          {route.name === 'safety' && <Safety id={route.id} username={route.username} />}
          {route.name === 'settings' && <Settings store={store} />}
          {route.name === 'devices' && <Devices />}
          {route.name === 'contacts' && <Contacts />}
          {route.name === 'requests' && <RequestsPage />}
          {route.name === 'request' && <RequestView key={route.id} id={route.id} />}
          {route.name === 'invite' && <InviteCard username={route.username} />}
          {route.name === 'home' && <Placeholder />}
        </main>
      )}
      <CallLayer />
      <WarningDialog />
      <Toasts />
    </div>
  );
}

/** A new service worker took over: the files on screen are old. Offer a reload, never force it. */
function UpdateBanner() {
  const { t } = useT();
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const sw = navigator.serviceWorker;
    if (sw === undefined || sw.controller === null) return;
    const on = () => setReady(true);
    sw.addEventListener('controllerchange', on);
    return () => sw.removeEventListener('controllerchange', on);
  }, []);
  if (!ready) return null;
  return (
    <div className="update" role="status">
      <span>{t('app.update')}</span>
      <button type="button" className="button primary small" onClick={() => location.reload()}>
        {t('app.reload')}
      </button>
    </div>
  );
}

function Placeholder() {
  const { t } = useT();
  return (
    <div className="placeholder">
      <Icon name="lock" size={48} />
      <p>{t('list.pick')}</p>
    </div>
  );
}

function ConnectionBanner({ m }: { m: Messenger }) {
  const { t } = useT();
  if (m.connection === 'online') return null;
  return (
    <p className={`banner ${m.connection}`} role="status">
      {m.connection === 'offline' ? t('conn.offline') : t('conn.connecting')}
    </p>
  );
}

function Sidebar() {
  const m = useMessenger();
  const { t, tp, lang } = useT();
  const route = useRoute();
  const [query, setQuery] = useState('');
  const [dialog, setDialog] = useState<'chat' | 'group'>();
  const start = useStartChat();
  const active =
    route.name === 'chat' || route.name === 'chatInfo' || route.name === 'safety' ? route.id : undefined;
  const chats = m.chats.filter((c) =>
    matchesChat([m.chatTitle(c), ...c.members.map((x) => x.username), c.title], query),
  );
  const candidate = query.trim().startsWith('@') || chats.length === 0 ? usernameFromInput(query) : undefined;
  const now = Date.now();
  return (
    <nav className="sidebar" aria-label={t('nav.chats')}>
      <header className="sidebar-head">
        {/* A bigger mouse target for Settings. The Settings button beside it is the one for the
            keyboard and screen readers, so this one stays out of the tab order and the tree. */}
        <button
          type="button"
          className="me"
          onClick={() => go({ name: 'settings' })}
          title={t('nav.settings')}
          tabIndex={-1}
          aria-hidden="true"
        >
          <Avatar
            name={m.nameOf(m.client.username)}
            id={m.client.userId}
            src={m.avatarOf(m.client.username)}
            size={36}
          />
        </button>
        <h2 className="grow">{t('nav.chats')}</h2>
        <CallHistoryButton />
        <IconButton icon="contacts" label={t('nav.contacts')} onClick={() => go({ name: 'contacts' })} />
        <IconButton icon="devices" label={t('nav.devices')} onClick={() => go({ name: 'devices' })} />
        <IconButton icon="settings" label={t('nav.settings')} onClick={() => go({ name: 'settings' })} />
      </header>
      <ConnectionBanner m={m} />
      <div className="sidebar-tools">
        <div className="search">
          <Icon name="search" />
          <input
            type="search"
            aria-label={t('list.search')}
            placeholder={t('list.searchPlaceholder')}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
        </div>
        <div className="row">
          <button type="button" className="button primary grow" onClick={() => setDialog('chat')}>
            <Icon name="chat" /> {t('list.newChat')}
          </button>
          <button type="button" className="button grow" onClick={() => setDialog('group')}>
            <Icon name="group" /> {t('list.newGroup')}
          </button>
        </div>
      </div>
      {candidate !== undefined && candidate !== m.client.username && (
        <button
          type="button"
          className="button link"
          onClick={() => void start(candidate).then(() => setQuery(''))}
        >
          {t('list.startWith', { username: candidate })}
        </button>
      )}
      {m.consent.waiting > 0 && (
        <a
          href="#/requests"
          className={`requests-row ${route.name === 'requests' || route.name === 'request' ? 'active' : ''}`}
          data-waiting={m.consent.waiting}
        >
          <Icon name="shield" />
          <span className="grow">{t('requests.title')}</span>
          <span className="badge">
            <span aria-hidden="true">{m.consent.waiting}</span>
            <span className="sr-only">{tp('requests.waiting', m.consent.waiting)}</span>
          </span>
        </a>
      )}
      {m.chats.length === 0 && <p className="empty">{t('list.empty')}</p>}
      {m.chats.length > 0 && chats.length === 0 && <p className="empty">{t('list.noMatches')}</p>}
      <ul className="chat-list" aria-label={t('nav.chats')}>
        {chats.map((c) => (
          <ChatRow key={c.id} c={c} m={m} active={c.id === active} now={now} lang={lang} t={t} tp={tp} />
        ))}
      </ul>
      {dialog === 'chat' && <NewChatDialog onClose={() => setDialog(undefined)} />}
      {dialog === 'group' && <NewGroupDialog onClose={() => setDialog(undefined)} />}
    </nav>
  );
}

function preview(m: Messenger, last: Message | undefined, t: ReturnType<typeof useT>['t']): string {
  if (last === undefined) return t('list.noMessages');
  if (last.deleted === true) return t('msg.deleted');
  const a = attachmentOf(last);
  if (a === undefined) return textOf(last) ?? '';
  if (a.mime.startsWith('audio/')) return `🎤 ${t('msg.voice')}`;
  if (a.mime.startsWith('image/')) return `🖼 ${t('msg.image')}`;
  void m;
  return `📎 ${a.name}`;
}

function ChatRow({
  c,
  m,
  active,
  now,
  lang,
  t,
  tp,
}: {
  c: Chat;
  m: Messenger;
  active: boolean;
  now: number;
  lang: string;
  t: ReturnType<typeof useT>['t'];
  tp: ReturnType<typeof useT>['tp'];
}) {
  const title = m.chatTitle(c);
  const last = m.lastMessage(c);
  const unread = m.unread(c);
  const draft = active ? '' : m.draft(c.id);
  const peer = c.kind === 'direct' ? c.peer?.username : undefined;
  const typing = m.typing.get(c.id);
  const typingName = typing !== undefined && typing.size > 0 ? [...typing.values()][0]?.name : undefined;
  return (
    <li>
      <a
        href={`#/c/${encodeURIComponent(c.id)}`}
        className={`chat-row ${active ? 'active' : ''}`}
        aria-current={active ? 'page' : undefined}
      >
        <Avatar
          name={title}
          id={c.peer?.userId ?? c.id}
          src={peer === undefined ? undefined : m.avatarOf(peer)}
          size={48}
        />
        <span className="chat-row-main">
          <span className="chat-row-top">
            <span className="chat-title">
              {c.kind === 'group' && <Icon name="group" size={16} />} {title}
            </span>
            {last !== undefined && <span className="chat-time">{listTime(last.sentAt, now, lang)}</span>}
          </span>
          <span className="chat-row-bottom">
            <span className="chat-preview">
              {c.left ? (
                t('list.left')
              ) : typingName !== undefined ? (
                <em>{t('chat.typing', { name: typingName })}</em>
              ) : draft !== '' ? (
                <>
                  <span className="draft">{t('list.draft')}</span>
                  {draft}
                </>
              ) : (
                <>
                  {last?.outgoing === true && t('list.you')}
                  {preview(m, last, t)}
                </>
              )}
            </span>
            {unread > 0 && (
              <span className="badge">
                <span aria-hidden="true">{unread}</span>
                <span className="sr-only">{tp('list.unread', unread)}</span>
              </span>
            )}
          </span>
        </span>
      </a>
    </li>
  );
}

function InviteCard({ username }: { username: string }) {
  const { t } = useT();
  const start = useStartChat();
  const [busy, setBusy] = useState(false);
  return (
    <section className="page narrow-page" aria-labelledby="invite-title">
      <Avatar name={username} id={username} size={96} />
      <h2 id="invite-title">{t('invite.title', { username })}</h2>
      <p>{t('invite.body', { username })}</p>
      <button
        type="button"
        className="button primary"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await start(username);
          setBusy(false);
        }}
      >
        {busy ? t('newChat.starting') : t('invite.start')}
      </button>
    </section>
  );
}

function Toasts() {
  const m = useMessenger();
  const { t } = useT();
  return (
    <section className="toasts" aria-label={t('app.alerts')} aria-live="polite">
      {m.toasts.map((toast) => (
        <div
          key={toast.id}
          className={`toast ${toast.tone}`}
          role={toast.tone === 'error' ? 'alert' : 'status'}
        >
          {toast.conversationId !== undefined || toast.href !== undefined ? (
            <a
              href={
                toast.conversationId !== undefined
                  ? `#/c/${encodeURIComponent(toast.conversationId)}`
                  : toast.href
              }
              onClick={() => m.dismiss(toast.id)}
              className="grow"
            >
              {toast.text}
            </a>
          ) : (
            <span className="grow">{toast.text}</span>
          )}
          <IconButton icon="close" label={t('common.dismiss')} onClick={() => m.dismiss(toast.id)} />
        </div>
      ))}
    </section>
  );
}
