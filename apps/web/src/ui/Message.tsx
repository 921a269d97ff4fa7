import { type AttachmentRef, parseProxyLink } from '@kolokol/sdk';
import { useEffect, useRef, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { formatBytes, formatTime } from '../lib/format.ts';
import { matchRanges } from '../lib/search.ts';
import type { Messenger, Pending } from '../messenger.ts';
import { attachmentOf, type Message, reactionsOf, textOf } from '../sdk/ext.ts';
import { Avatar, copyText, Icon } from './common.tsx';
import { addProxy } from './proxy.ts';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'] as const;
/** Images up to this size are fetched on sight for the inline preview; larger ones wait for a click. */
const AUTO_DOWNLOAD = 10 * 1024 * 1024;

export function Highlighted({ text, query }: { text: string; query: string }) {
  const ranges = query.trim() === '' ? [] : matchRanges(text, query);
  if (ranges.length === 0) return <>{text}</>;
  const out: React.ReactNode[] = [];
  let at = 0;
  for (const [s, e] of ranges) {
    if (s > at) out.push(text.slice(at, s));
    out.push(<mark key={s}>{text.slice(s, e)}</mark>);
    at = e;
  }
  out.push(text.slice(at));
  return <>{out}</>;
}

export interface MessageActions {
  reply(m: Message): void;
  edit(m: Message): void;
  remove(m: Message): void;
  /** Report to the server's operator (someone else's message that arrived with franking). */
  report(m: Message): void;
  react(m: Message, emoji: string | null): void;
}

export function MessageItem({
  m,
  msg,
  group,
  firstOfRun,
  lastOfRun,
  query,
  current,
  actions,
  byId,
}: {
  m: Messenger;
  msg: Message;
  group: boolean;
  firstOfRun: boolean;
  lastOfRun: boolean;
  query: string;
  current: boolean;
  actions: MessageActions;
  byId: (id: string) => Message | undefined;
}) {
  const { t, lang } = useT();
  const [menu, setMenu] = useState(false);
  const out = msg.outgoing;
  const name = m.nameOf(msg.from.username);
  const deleted = msg.deleted === true;
  const replyId = msg.replyTo;
  const original = replyId === undefined ? undefined : byId(replyId);
  const reactions = reactionsOf(msg);
  const canReact = m.supports('react');
  const text = msg.body.type === 'text' ? msg.body.text : undefined;
  const attachment = attachmentOf(msg);
  const canEdit = out && !deleted && text !== undefined && m.supports('editMessage');
  const canDelete = out && !deleted && m.supports('deleteForEveryone');
  const canReply = !deleted && m.supports('react');
  return (
    <li
      className={`msg ${out ? 'out' : 'in'} ${firstOfRun ? 'first' : ''} ${lastOfRun ? 'last' : ''} ${current ? 'current' : ''}`}
      id={`msg-${msg.id}`}
      data-id={msg.id}
    >
      {group && !out && (
        <span className="msg-avatar">
          {lastOfRun && (
            <Avatar name={name} id={msg.from.userId} src={m.avatarOf(msg.from.username)} size={32} />
          )}
        </span>
      )}
      <div className="bubble">
        {group && !out && firstOfRun && (
          <span
            className="sender"
            style={{ '--hue': String(hashHue(msg.from.userId)) } as React.CSSProperties}
          >
            {name}
          </span>
        )}
        {!group || out || !firstOfRun ? <span className="sr-only">{out ? t('msg.you') : name}: </span> : null}
        {replyId !== undefined && (
          <button
            type="button"
            className="quote"
            onClick={() =>
              document
                .getElementById(`msg-${replyId}`)
                ?.scrollIntoView({ block: 'center', behavior: 'smooth' })
            }
          >
            {original === undefined ? (
              <span className="muted">{t('msg.originalMissing')}</span>
            ) : (
              <>
                {/* Named by its content, not aria-label, so the name holds the words on screen
                    (WCAG 2.5.3: speech users say what they see). */}
                <span className="sr-only">
                  {t('msg.replyTo', { name: m.nameOf(original.from.username) })}:{' '}
                </span>
                <strong aria-hidden="true">{m.nameOf(original.from.username)}</strong>
                <span className="quote-text">{summary(original, t)}</span>
              </>
            )}
          </button>
        )}
        {deleted ? (
          <p className="deleted">{t('msg.deleted')}</p>
        ) : text !== undefined ? (
          <>
            <p className="text">
              <Highlighted text={text} query={query} />
            </p>
            <ProxyLinkButton m={m} text={text} />
          </>
        ) : attachment !== undefined ? (
          <AttachmentView m={m} msg={msg} a={attachment} />
        ) : null}
        <span className="meta">
          {msg.editedAt !== undefined && !deleted && <span>{t('msg.edited')} · </span>}
          <time dateTime={new Date(msg.sentAt).toISOString()}>{formatTime(msg.sentAt, lang)}</time>
          {out && <StatusIcon status={msg.status ?? 'sent'} />}
        </span>
        {reactions.length > 0 && (
          <ul className="reactions" aria-label={t('msg.reactions')}>
            {reactions.map((r) => (
              <li key={r.emoji}>
                <button
                  type="button"
                  className={`reaction ${r.users.includes(m.client.userId) ? 'mine' : ''}`}
                  aria-pressed={r.users.includes(m.client.userId)}
                  disabled={!canReact}
                  onClick={() => actions.react(msg, r.users.includes(m.client.userId) ? null : r.emoji)}
                >
                  {t('msg.reactionBy', { emoji: r.emoji, count: r.users.length })}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      {!deleted && (
        <div className="msg-tools">
          <button
            type="button"
            className="icon-button small"
            aria-label={t('msg.actions')}
            title={t('msg.actions')}
            aria-haspopup="menu"
            aria-expanded={menu}
            onClick={() => setMenu((v) => !v)}
          >
            <Icon name="more" size={18} />
          </button>
          {menu && (
            <ActionMenu
              onClose={() => setMenu(false)}
              items={[
                ...(canReply ? [{ label: t('msg.reply'), run: () => actions.reply(msg) }] : []),
                ...(canEdit ? [{ label: t('msg.edit'), run: () => actions.edit(msg) }] : []),
                ...(text !== undefined ? [{ label: t('msg.copy'), run: () => void copyText(text) }] : []),
                ...(canDelete
                  ? [{ label: t('msg.delete'), run: () => actions.remove(msg), danger: true }]
                  : []),
                ...(!out && msg.franking !== undefined
                  ? [{ label: t('msg.report'), run: () => actions.report(msg), danger: true }]
                  : []),
              ]}
              reactions={canReact ? (emoji: string) => actions.react(msg, emoji) : undefined}
            />
          )}
        </div>
      )}
    </li>
  );
}

function hashHue(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 360;
}

function summary(msg: Message, t: ReturnType<typeof useT>['t']): string {
  if (msg.deleted === true) return t('msg.deleted');
  const a = attachmentOf(msg);
  if (a?.mime.startsWith('audio/')) return t('msg.voice');
  return textOf(msg) ?? '';
}

/** A menu (WAI-ARIA menu pattern): arrow keys move, Escape closes and returns focus to the button. */
function ActionMenu({
  items,
  reactions,
  onClose,
}: {
  items: { label: string; run: () => void; danger?: boolean }[];
  reactions: ((emoji: string) => void) | undefined;
  onClose: () => void;
}) {
  const { t } = useT();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const onDoc = (e: MouseEvent) => {
      if (ref.current !== null && !ref.current.contains(e.target as Node)) onClose();
    };
    document.addEventListener('mousedown', onDoc);
    return () => document.removeEventListener('mousedown', onDoc);
  }, [onClose]);
  const done = (fn: () => void) => {
    onClose();
    fn();
  };
  return (
    <div
      ref={ref}
      className="menu"
      role="menu"
      tabIndex={-1}
      aria-label={t('msg.actions')}
      onKeyDown={(e) => {
        const all = [...(ref.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
        const i = all.indexOf(document.activeElement as HTMLElement);
        if (e.key === 'Escape') {
          e.stopPropagation();
          onClose();
          (ref.current?.previousElementSibling as HTMLElement | null)?.focus();
        } else if (e.key === 'ArrowDown' || e.key === 'ArrowRight') {
          e.preventDefault();
          all[(i + 1) % all.length]?.focus();
        } else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') {
          e.preventDefault();
          all[(i - 1 + all.length) % all.length]?.focus();
        } else if (e.key === 'Tab') onClose();
      }}
    >
      {reactions !== undefined && (
        // biome-ignore lint/a11y/useSemanticElements: WAI-ARIA menus group items with role=group; a fieldset is for forms
        <div className="menu-reactions" role="group" aria-label={t('msg.react')}>
          {QUICK_REACTIONS.map((emoji) => (
            <button
              key={emoji}
              type="button"
              role="menuitem"
              tabIndex={-1}
              aria-label={t('msg.reactWith', { emoji })}
              onClick={() => done(() => reactions(emoji))}
            >
              {emoji}
            </button>
          ))}
        </div>
      )}
      {items.map((it) => (
        <button
          key={it.label}
          type="button"
          role="menuitem"
          tabIndex={-1}
          className={it.danger === true ? 'danger' : ''}
          onClick={() => done(it.run)}
        >
          {it.label}
        </button>
      ))}
    </div>
  );
}

export function StatusIcon({ status }: { status: 'sending' | 'sent' | 'delivered' | 'read' | 'failed' }) {
  const { t } = useT();
  const label = {
    sending: t('msg.sending'),
    sent: t('msg.sent'),
    delivered: t('msg.delivered'),
    read: t('msg.read'),
    failed: t('msg.failed'),
  }[status];
  const icon =
    status === 'sending' ? 'clock' : status === 'sent' ? 'check' : status === 'failed' ? 'alert' : 'checks';
  return (
    <span className={`status ${status}`}>
      <Icon name={icon} size={16} label={label} />
    </span>
  );
}

function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.round((done / total) * 100) : 0;
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
    >
      <span style={{ width: `${pct}%` }} />
    </div>
  );
}

function AttachmentView({ m, msg, a }: { m: Messenger; msg: Message; a: AttachmentRef }) {
  const { t, lang } = useT();
  const d = m.downloads.get(msg.id);
  const isImage = a.mime.startsWith('image/');
  const isAudio = a.mime.startsWith('audio/');
  const auto = (isImage || isAudio) && a.size <= AUTO_DOWNLOAD;
  useEffect(() => {
    if (auto && d === undefined) void m.download(msg);
  }, [auto, d, m, msg]);
  if (d?.url !== undefined && isImage)
    return (
      <a
        href={d.url}
        target="_blank"
        rel="noreferrer"
        className="image-link"
        aria-label={t('msg.openImage', { name: a.name })}
      >
        <img src={d.url} alt={a.name} className="image" />
      </a>
    );
  if (d?.url !== undefined && isAudio)
    return (
      <div className="voice-note">
        <span className="muted">
          <Icon name="mic" size={16} /> {t('msg.voice')}
        </span>
        <audio controls src={d.url} className="voice" aria-label={t('msg.voice')}>
          <track kind="captions" />
        </audio>
      </div>
    );
  return (
    <div className="file">
      <Icon name={isAudio ? 'mic' : 'attach'} size={28} />
      <div className="grow">
        <p className="file-name">{isAudio ? t('msg.voice') : a.name}</p>
        <p className="muted">{formatBytes(a.size, lang)}</p>
        {d !== undefined && d.url === undefined && d.error !== true && (
          <Progress done={d.done} total={d.total} label={t('msg.downloading', { name: a.name })} />
        )}
        {d?.error === true && (
          <p className="error" role="alert">
            {t('err.downloadFailed')}
          </p>
        )}
      </div>
      {d?.url !== undefined ? (
        <a className="button" href={d.url} download={a.name}>
          <Icon name="download" /> {t('msg.download')}
        </a>
      ) : d !== undefined && d.error !== true ? (
        <button type="button" className="button" onClick={() => m.cancelDownload(msg.id)}>
          {t('msg.cancel')}
        </button>
      ) : (
        <button
          type="button"
          className="button"
          onClick={async () => {
            const url = await m.download(msg);
            if (url !== undefined && !isImage && !isAudio) {
              const link = document.createElement('a');
              link.href = url;
              link.download = a.name;
              link.click();
            }
          }}
        >
          <Icon name="download" /> {d?.error === true ? t('common.retry') : t('msg.download')}
        </button>
      )}
    </div>
  );
}

export function PendingItem({ m, p }: { m: Messenger; p: Pending }) {
  const { t, lang } = useT();
  const failed = p.state === 'failed';
  return (
    <li className="msg out first last pending" data-pending={p.id}>
      <div className="bubble">
        <span className="sr-only">{t('msg.you')}: </span>
        {p.kind === 'text' ? (
          <p className="text">{p.text}</p>
        ) : (
          <div className="file">
            <Icon name={p.mime.startsWith('audio/') ? 'mic' : 'attach'} size={28} />
            <div className="grow">
              <p className="file-name">{p.name}</p>
              <p className="muted">{formatBytes(p.size, lang)}</p>
              {!failed && (
                <Progress done={p.done} total={p.total} label={t('msg.uploading', { name: p.name })} />
              )}
            </div>
            {!failed && (
              <button type="button" className="button" onClick={() => m.discard(p.id)}>
                {t('msg.cancel')}
              </button>
            )}
          </div>
        )}
        <span className="meta">
          <time dateTime={new Date(p.createdAt).toISOString()}>{formatTime(p.createdAt, lang)}</time>
          <StatusIcon status={failed ? 'failed' : 'sending'} />
        </span>
        {failed && (
          <div className="row">
            <button type="button" className="button small" onClick={() => m.retry(p.id)}>
              {t('msg.retry')}
            </button>
            <button type="button" className="button small" onClick={() => m.discard(p.id)}>
              {t('common.dismiss')}
            </button>
          </div>
        )}
      </div>
    </li>
  );
}

/** A `kolokol://proxy` link in a message becomes one tap to add that proxy (fronts, Settings). */
function ProxyLinkButton({ m, text }: { m: Messenger; text: string }) {
  const { t } = useT();
  const proxy = parseProxyLink(text);
  if (proxy === undefined) return null;
  return (
    <button type="button" className="button small" onClick={() => void addProxy(m, proxy)}>
      {t('network.linkInChat')}
    </button>
  );
}
