import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { formatDuration } from '../lib/format.ts';
import { groupMessages } from '../lib/grouping.ts';
import { searchMessages } from '../lib/search.ts';
import type { Messenger } from '../messenger.ts';
import { ext, type Message, systemOf, textOf } from '../sdk/ext.ts';
import { CallButtons } from './Call.tsx';
import { Avatar, Confirm, Icon, IconButton } from './common.tsx';
import { go, useMediaQuery, useMessenger } from './hooks.ts';
import { type MessageActions, MessageItem, PendingItem } from './Message.tsx';
import { ReportDialog, ScamWarning } from './Requests.tsx';

export function ChatView({ id }: { id: string }) {
  const m = useMessenger();
  const { t, tp } = useT();
  const chat = m.chat(id);
  const [finding, setFinding] = useState(false);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState(0);
  const [replyTo, setReplyTo] = useState<Message>();
  const [editing, setEditing] = useState<Message>();
  const [removing, setRemoving] = useState<Message>();
  const [reporting, setReporting] = useState<Message>();
  const [scamHidden, setScamHidden] = useState(false);
  const [dragging, setDragging] = useState(false);
  const narrow = useMediaQuery('(max-width: 720px)');

  useEffect(() => {
    m.setActive(id);
    const onFocus = () => m.markRead(id);
    window.addEventListener('focus', onFocus);
    document.addEventListener('visibilitychange', onFocus);
    return () => {
      m.setActive(undefined);
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('visibilitychange', onFocus);
    };
  }, [m, id]);

  const messages = m.messages.get(id) ?? [];
  const visible = messages.filter((x) => !m.isBlocked(x.from.username));
  const hits = useMemo(
    () =>
      finding
        ? searchMessages(
            visible.map((x) => ({ id: x.id, text: x.deleted === true ? '' : (textOf(x) ?? '') })),
            query,
          )
        : [],
    [finding, visible, query],
  );
  const currentHit = hits.length > 0 ? hits[Math.min(hit, hits.length - 1)] : undefined;
  useEffect(() => {
    if (currentHit !== undefined)
      document.getElementById(`msg-${currentHit}`)?.scrollIntoView({ block: 'center' });
  }, [currentHit]);

  const actions: MessageActions = useMemo(
    () => ({
      reply: (msg) => {
        setEditing(undefined);
        setReplyTo(msg);
        document.getElementById('composer')?.focus();
      },
      edit: (msg) => {
        setReplyTo(undefined);
        setEditing(msg);
        document.getElementById('composer')?.focus();
      },
      remove: (msg) => setRemoving(msg),
      report: (msg) => setReporting(msg),
      react: (msg, emoji) => {
        void ext(m.client)
          .react?.(id, msg.id, emoji)
          .catch((e: unknown) => m.toast(m.errorText(e), 'error'));
      },
    }),
    [m, id],
  );

  if (chat === undefined)
    return (
      <div className="placeholder">
        <p>{t('chat.notFound')}</p>
      </div>
    );

  const title = m.chatTitle(chat);
  const peer = chat.kind === 'direct' ? chat.peer : undefined;
  const verified = peer !== undefined && m.isVerified(peer.username);
  const typing = [...(m.typing.get(id)?.values() ?? [])];
  const subtitle =
    typing.length === 1
      ? t('chat.typing', { name: typing[0]?.name ?? '' })
      : typing.length > 1
        ? t('chat.typingMany')
        : chat.kind === 'group'
          ? tp('chat.members', chat.members.length)
          : `@${peer?.username ?? ''}`;
  const blocked = peer !== undefined && m.isBlocked(peer.username);
  // The classifier reads a stranger's first messages on this device only (consent.ts). In a chat
  // the person already has, only a confident verdict interrupts; requests show 'possible' too.
  const verdict = peer !== undefined && !m.isContact(peer.username) ? m.consent.scam.get(id) : undefined;
  const scam = verdict?.level === 'likely' ? verdict : undefined;

  return (
    <section
      className={`chat ${dragging ? 'dragging' : ''}`}
      aria-label={title}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        for (const f of e.dataTransfer.files) void m.sendFile(id, f);
      }}
    >
      {/* Heading navigation lands on the conversation; on screen the header button shows the title. */}
      <h2 className="sr-only">{title}</h2>
      <header className="chat-head">
        {narrow && <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'home' })} />}
        <button type="button" className="chat-head-main" onClick={() => go({ name: 'chatInfo', id })}>
          <Avatar
            name={title}
            id={peer?.userId ?? id}
            src={peer === undefined ? undefined : m.avatarOf(peer.username)}
            size={40}
          />
          <span className="grow">
            <span className="chat-head-title">{title}</span>
            <span className="chat-head-sub" aria-live="polite">
              {subtitle}
            </span>
          </span>
        </button>
        <a
          className={`e2e-badge ${verified ? 'verified' : ''}`}
          href={
            peer === undefined
              ? `#/c/${encodeURIComponent(id)}/info`
              : `#/c/${encodeURIComponent(id)}/safety/${encodeURIComponent(peer.username)}`
          }
          title={t('chat.encryptionNote')}
        >
          <Icon name={verified ? 'shield' : 'lock'} size={16} />
          <span>{verified ? t('chat.verified') : t('chat.encrypted')}</span>
        </a>
        {chat.kind === 'direct' && !chat.left && <CallButtons conversationId={id} />}
        <IconButton
          icon="search"
          label={t('chat.findOpen')}
          pressed={finding}
          onClick={() => setFinding((v) => !v)}
        />
        <IconButton icon="more" label={t('chat.info')} onClick={() => go({ name: 'chatInfo', id })} />
      </header>
      {finding && (
        <search className="find-bar">
          <input
            type="search"
            aria-label={t('chat.find')}
            placeholder={t('chat.find')}
            value={query}
            // biome-ignore lint/a11y/noAutofocus: the person just asked to search; focus belongs here
            autoFocus
            onChange={(e) => {
              setQuery(e.target.value);
              setHit(Math.max(0, hits.length - 1));
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') setHit((h) => (h - 1 + hits.length) % Math.max(1, hits.length));
              if (e.key === 'Escape') {
                setFinding(false);
                setQuery('');
              }
            }}
          />
          <span className="muted" role="status">
            {query.trim() === ''
              ? ''
              : hits.length === 0
                ? t('chat.findNone')
                : tp('chat.findResults', hits.length)}
          </span>
          <IconButton
            icon="up"
            label={t('chat.findPrev')}
            disabled={hits.length === 0}
            onClick={() => setHit((h) => (h - 1 + hits.length) % hits.length)}
          />
          <IconButton
            icon="down"
            label={t('chat.findNext')}
            disabled={hits.length === 0}
            onClick={() => setHit((h) => (h + 1) % hits.length)}
          />
          <IconButton
            icon="close"
            label={t('nav.close')}
            onClick={() => {
              setFinding(false);
              setQuery('');
            }}
          />
        </search>
      )}
      {scam !== undefined && !scamHidden && (
        <div className="scam-banner">
          <ScamWarning verdict={scam} />
          <div className="row">
            {peer !== undefined && (
              <button
                type="button"
                className="button small danger"
                onClick={() =>
                  setReporting(
                    [...visible].reverse().find((x) => !x.outgoing && x.from.userId === peer.userId),
                  )
                }
              >
                {t('requests.blockReport')}
              </button>
            )}
            <button type="button" className="button small" onClick={() => setScamHidden(true)}>
              {t('scam.dismiss')}
            </button>
          </div>
        </div>
      )}
      <MessageLog
        m={m}
        id={id}
        messages={visible}
        group={chat.kind === 'group'}
        query={finding ? query : ''}
        current={currentHit}
        actions={actions}
      />
      {blocked && peer !== undefined ? (
        <div className="composer-note">
          <p>{t('chat.blockedNotice', { username: peer.username })}</p>
          <button type="button" className="button" onClick={() => void m.block(peer, false)}>
            {t('chat.unblock')}
          </button>
        </div>
      ) : chat.left ? (
        <p className="composer-note">{t('chat.leftNotice')}</p>
      ) : (
        <Composer
          m={m}
          id={id}
          replyTo={replyTo}
          editing={editing}
          onDone={() => {
            setReplyTo(undefined);
            setEditing(undefined);
          }}
        />
      )}
      {dragging && (
        <div className="drop" aria-hidden="true">
          {t('chat.dropHere')}
        </div>
      )}
      {reporting !== undefined && (
        <ReportDialog
          conversationId={id}
          messageIds={[
            // The message picked and the ones from the same person just before it: the context.
            ...visible
              .filter((x) => !x.outgoing && x.from.userId === reporting.from.userId && x.seq <= reporting.seq)
              .slice(-5)
              .map((x) => x.id),
          ]}
          name={m.nameOf(reporting.from.username)}
          defaultCategory={scam?.level === 'likely' ? 'scam' : 'spam'}
          onClose={() => setReporting(undefined)}
          {...(peer !== undefined && peer.userId === reporting.from.userId ? { offerBlock: peer } : {})}
        />
      )}
      {removing !== undefined && (
        <Confirm
          title={t('msg.delete')}
          text={t('msg.deleteConfirm')}
          confirmLabel={t('msg.delete')}
          danger
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await ext(m.client)
              .deleteForEveryone?.(id, removing.id)
              .catch((e: unknown) => m.toast(m.errorText(e), 'error'));
          }}
        />
      )}
    </section>
  );
}

function MessageLog({
  m,
  id,
  messages,
  group,
  query,
  current,
  actions,
}: {
  m: Messenger;
  id: string;
  messages: Message[];
  group: boolean;
  query: string;
  current: string | undefined;
  actions: MessageActions;
}) {
  const { t, lang } = useT();
  const ref = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const pending = m.pendingFor(id);
  const notices = m.local.notices[id] ?? [];
  const items = useMemo(
    () =>
      groupMessages(
        messages.map((x) => Object.assign(x, { senderId: x.from.userId })),
        Date.now(),
        lang,
      ),
    [messages, lang],
  );
  const byId = useCallback((mid: string) => messages.find((x) => x.id === mid), [messages]);
  const count = messages.length + pending.length + notices.length;
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll again whenever the number of items changes
  useEffect(() => {
    const el = ref.current;
    if (el !== null && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [count]);
  useEffect(() => {
    const el = ref.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, []);
  return (
    <div
      className="log-scroll"
      ref={ref}
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
    >
      <p className="e2e-note">
        <Icon name="lock" size={14} /> {t('chat.encryptionNote')}
      </p>
      {m.hasMore(id) && (
        <button type="button" className="button link center" onClick={() => void m.loadMessages(id, true)}>
          {t('chat.loadEarlier')}
        </button>
      )}
      <div
        role="log"
        aria-label={t('chat.messages')}
        aria-live="polite"
        aria-relevant="additions"
        className="log"
      >
        {messages.length === 0 && pending.length === 0 && <p className="empty">{t('chat.empty')}</p>}
        <ol className="messages">
          {items.map((it) =>
            it.kind === 'day' ? (
              <li key={it.key} className="day">
                <span>
                  {it.label.kind === 'today'
                    ? t('common.today')
                    : it.label.kind === 'yesterday'
                      ? t('common.yesterday')
                      : it.label.text}
                </span>
              </li>
            ) : systemOf(it.message) !== undefined ? (
              <li key={it.key} className="notice-item">
                <p className="notice warn" role="note">
                  <Icon name="alert" size={16} />{' '}
                  {t(noticeKey(systemOf(it.message)?.event), {
                    name: m.nameOf(m.usernameOf(systemOf(it.message)?.userId ?? '')),
                  })}
                </p>
              </li>
            ) : (
              <MessageItem
                key={it.key}
                m={m}
                msg={it.message}
                group={group}
                firstOfRun={it.firstOfRun}
                lastOfRun={it.lastOfRun}
                query={query}
                current={current === it.message.id}
                actions={actions}
                byId={byId}
              />
            ),
          )}
          {notices.map((n) => (
            <li key={n.id} className="notice-item">
              <p className="notice warn" role="note">
                <Icon name="alert" size={16} /> {t('chat.safetyChanged', { name: n.name })}
              </p>
            </li>
          ))}
          {pending.map((p) => (
            <PendingItem key={p.id} m={m} p={p} />
          ))}
        </ol>
      </div>
    </div>
  );
}

function Composer({
  m,
  id,
  replyTo,
  editing,
  onDone,
}: {
  m: Messenger;
  id: string;
  replyTo: Message | undefined;
  editing: Message | undefined;
  onDone: () => void;
}) {
  const { t } = useT();
  const [text, setText] = useState(() => m.draft(id));
  const file = useRef<HTMLInputElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  // On a phone the toasts sit just above the composer (styles.css): they follow its height, which
  // grows with the text and with a reply's quote.
  useEffect(() => {
    const el = wrap.current;
    if (el === null || typeof ResizeObserver === 'undefined') return;
    const root = document.documentElement.style;
    const observer = new ResizeObserver(() => root.setProperty('--composer-size', `${el.offsetHeight}px`));
    observer.observe(el);
    return () => {
      observer.disconnect();
      root.removeProperty('--composer-size');
    };
  }, []);
  const saved = useRef(text);
  const latest = useRef(text);
  latest.current = editing === undefined ? text : saved.current;
  useEffect(() => {
    if (editing !== undefined && editing.body.type === 'text') setText(editing.body.text);
  }, [editing]);
  // Drafts are kept as the person types (debounced) and when they leave the chat.
  useEffect(() => {
    const timer = setTimeout(() => {
      if (editing === undefined) {
        m.setDraft(id, text);
        saved.current = text;
      }
    }, 400);
    return () => clearTimeout(timer);
  }, [m, id, text, editing]);
  useEffect(() => () => m.setDraft(id, latest.current), [m, id]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the height follows the text, which the effect reads through the DOM
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  const send = () => {
    const body = text.trim();
    if (body === '') return;
    if (editing !== undefined) {
      void ext(m.client)
        .editMessage?.(id, editing.id, body)
        .catch((e: unknown) => m.toast(m.errorText(e), 'error'));
    } else void m.sendText(id, body, replyTo?.id);
    setText('');
    saved.current = '';
    latest.current = '';
    onDone();
    box.current?.focus();
  };

  return (
    <div className="composer-wrap" ref={wrap}>
      {(replyTo !== undefined || editing !== undefined) && (
        <div className="composer-context">
          <Icon name={editing !== undefined ? 'check' : 'reply'} />
          <span className="grow">
            <strong>
              {editing !== undefined
                ? t('chat.editing')
                : t('chat.replyingTo', { name: m.nameOf(replyTo?.from.username ?? '') })}
            </strong>
            <span className="quote-text">
              {(() => {
                const target = editing ?? replyTo;
                return target === undefined ? '' : textOf(target);
              })()}
            </span>
          </span>
          <IconButton
            icon="close"
            label={editing !== undefined ? t('chat.cancelEdit') : t('chat.cancelReply')}
            onClick={() => {
              if (editing !== undefined) setText('');
              onDone();
            }}
          />
        </div>
      )}
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <IconButton icon="attach" label={t('chat.attach')} onClick={() => file.current?.click()} />
        <input
          ref={file}
          type="file"
          multiple
          hidden
          tabIndex={-1}
          aria-hidden="true"
          onChange={(e) => {
            for (const f of e.target.files ?? []) void m.sendFile(id, f);
            e.target.value = '';
          }}
        />
        <textarea
          id="composer"
          ref={box}
          rows={1}
          aria-label={t('chat.message')}
          placeholder={t('chat.placeholder')}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            m.typingChanged(id, e.target.value !== '');
          }}
          onPaste={(e) => {
            const files = [...e.clipboardData.files];
            if (files.length > 0) {
              e.preventDefault();
              for (const f of files) void m.sendFile(id, f);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              send();
            } else if (e.key === 'Escape' && (replyTo !== undefined || editing !== undefined)) {
              if (editing !== undefined) setText('');
              onDone();
            }
          }}
        />
        {text.trim() === '' && typeof MediaRecorder !== 'undefined' ? <Recorder m={m} id={id} /> : null}
        <button
          type="submit"
          className="icon-button send"
          aria-label={t('chat.send')}
          title={t('chat.send')}
          disabled={text.trim() === ''}
        >
          <Icon name="send" />
        </button>
      </form>
    </div>
  );
}

/** Voice notes: MediaRecorder (Opus in WebM where supported), sent as an ordinary encrypted attachment. */
function Recorder({ m, id }: { m: Messenger; id: string }) {
  const { t } = useT();
  const [rec, setRec] = useState<{ recorder: MediaRecorder; started: number }>();
  const [now, setNow] = useState(Date.now());
  const chunks = useRef<Blob[]>([]);
  const cancelled = useRef(false);
  useEffect(() => {
    if (rec === undefined) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [rec]);
  const start = async () => {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      m.toast(t('err.microphone'), 'error');
      return;
    }
    const recorder = new MediaRecorder(stream);
    chunks.current = [];
    cancelled.current = false;
    recorder.ondataavailable = (e) => chunks.current.push(e.data);
    recorder.onstop = () => {
      for (const tr of stream.getTracks()) tr.stop();
      if (cancelled.current) return;
      const type = recorder.mimeType || 'audio/webm';
      const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
      const file = new File(
        chunks.current,
        `voice-${new Date().toISOString().replace(/[:.]/g, '-')}.${ext}`,
        { type },
      );
      void m.sendFile(id, file);
    };
    recorder.start();
    setRec({ recorder, started: Date.now() });
    setNow(Date.now());
  };
  if (rec === undefined)
    return <IconButton icon="mic" label={t('chat.record')} onClick={() => void start()} />;
  return (
    <div className="recording" role="status">
      <span className="dot" aria-hidden="true" />
      <span>{t('chat.recording', { time: formatDuration(now - rec.started) })}</span>
      <IconButton
        icon="close"
        label={t('chat.cancelRecord')}
        onClick={() => {
          cancelled.current = true;
          rec.recorder.stop();
          setRec(undefined);
        }}
      />
      <IconButton
        icon="stop"
        label={t('chat.stopRecord')}
        onClick={() => {
          rec.recorder.stop();
          setRec(undefined);
        }}
      />
    </div>
  );
}

/** The catalogue entry for a local notice (the SDK parses them against a closed set of events). */
function noticeKey(
  event: string | undefined,
): 'chat.accountDeleted' | 'chat.missedCall' | 'chat.safetyChanged' {
  if (event === 'account-deleted') return 'chat.accountDeleted';
  if (event === 'missed-call') return 'chat.missedCall';
  return 'chat.safetyChanged';
}
