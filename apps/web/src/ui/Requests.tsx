/**
 * Consent screens: the requests list (message requests, group invitations, calls that did not
 * ring), one request with its context card, the report dialog, the on-device scam warning, and
 * the suspension notice with its appeal. Until a request is accepted its media stays blurred, its
 * links are plain text, and nothing of it is marked read.
 */
import type { ReportCategory } from '@kolokol/protocol';
import type { ConversationVerdict, ScamSignalId } from '@kolokol/scam';
import type { CallRequest, ConsentRequest } from '@kolokol/sdk';
import { useEffect, useState } from 'react';
import { REPORT_CATEGORIES } from '../consent.ts';
import type { Key } from '../i18n/catalog.ts';
import { useT } from '../i18n/react.ts';
import { formatBytes, listTime } from '../lib/format.ts';
import type { Messenger } from '../messenger.ts';
import { attachmentOf, type Message } from '../sdk/ext.ts';
import { Avatar, Dialog, Field, Icon, IconButton } from './common.tsx';
import { go, useMessenger } from './hooks.ts';

const DAY = 24 * 60 * 60 * 1000;

export function RequestsPage() {
  const m = useMessenger();
  const { t, lang } = useT();
  const { requests, callRequests } = m.consent;
  const now = Date.now();
  useEffect(() => {
    void m.consent.reload();
  }, [m]);
  return (
    <section className="page" aria-labelledby="requests-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'home' })} />
        <h2 id="requests-title">{t('requests.title')}</h2>
      </header>
      <p className="hint">{t('requests.intro')}</p>
      <section className="card-section" aria-labelledby="requests-messages">
        <h3 id="requests-messages">{t('requests.messages')}</h3>
        {requests.length === 0 ? (
          <p className="empty">{t('requests.none')}</p>
        ) : (
          <ul className="chat-list" aria-labelledby="requests-messages">
            {requests.map((r) => (
              <li key={r.conversationId}>
                <a href={`#/requests/${encodeURIComponent(r.conversationId)}`} className="chat-row">
                  <Avatar name={nameOf(m, r)} id={r.from.userId} size={48} />
                  <span className="chat-row-main">
                    <span className="chat-row-top">
                      <span className="chat-title">
                        {r.kind === 'group' && <Icon name="group" size={16} />}{' '}
                        {r.kind === 'group' ? t('requests.groupFrom', { name: nameOf(m, r) }) : nameOf(m, r)}
                      </span>
                      <span className="chat-time">{listTime(r.at, now, lang)}</span>
                    </span>
                    <span className="chat-row-bottom">
                      <span className="chat-preview">
                        {m.consent.scam.get(r.conversationId)?.level === 'likely'
                          ? `⚠ ${t('scam.short')}`
                          : r.kind === 'group'
                            ? t('requests.invitation')
                            : t('requests.message')}
                      </span>
                    </span>
                  </span>
                </a>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="card-section" aria-labelledby="requests-calls">
        <h3 id="requests-calls">{t('requests.calls')}</h3>
        <p className="hint">{t('requests.callsHint')}</p>
        {callRequests.length === 0 ? (
          <p className="empty">{t('requests.noCalls')}</p>
        ) : (
          <ul className="plain-list" aria-labelledby="requests-calls">
            {callRequests.map((r) => (
              <CallRequestRow key={r.callId} r={r} now={now} />
            ))}
          </ul>
        )}
      </section>
    </section>
  );
}

function nameOf(m: Messenger, r: ConsentRequest): string {
  return r.from.displayName ?? m.nameOf(r.from.username);
}

const ADMISSION: Record<CallRequest['admission'], Key> = {
  request: 'requests.callWaiting',
  silence: 'requests.callSilenced',
  refuse: 'requests.callRefused',
};

function CallRequestRow({ r, now }: { r: CallRequest; now: number }) {
  const m = useMessenger();
  const { t, lang } = useT();
  const [busy, setBusy] = useState(false);
  const name = m.nameOf(r.from.username);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    try {
      await f();
    } catch (e) {
      m.toast(m.errorText(e), 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <li className="call-request row" data-call-id={r.callId} data-admission={r.admission}>
      <Avatar name={name} id={r.from.userId} size={40} />
      <span className="grow">
        <strong>{name}</strong> <span className="muted">@{r.from.username}</span>
        <br />
        <span className="muted">
          <Icon name={r.video ? 'video' : 'phone'} size={14} /> {t(ADMISSION[r.admission])} ·{' '}
          {listTime(r.at, now, lang)}
          {r.state === 'accepted' && ` · ${t('requests.callAllowed')}`}
          {r.state === 'ignored' && ` · ${t('requests.callIgnored')}`}
        </span>
      </span>
      {r.state === 'pending' && (
        <>
          <button
            type="button"
            className="button small primary"
            disabled={busy}
            onClick={() => void run(() => m.consent.acceptCall(r.callId))}
          >
            {t('requests.allowCalls')}
          </button>
          <button
            type="button"
            className="button small"
            disabled={busy}
            onClick={() => void run(() => m.consent.ignoreCall(r.callId))}
          >
            {t('requests.ignore')}
          </button>
        </>
      )}
    </li>
  );
}

export function RequestView({ id }: { id: string }) {
  const m = useMessenger();
  const { t, tp, lang } = useT();
  const r = m.consent.request(id);
  const [messages, setMessages] = useState<Message[]>([]);
  const [busy, setBusy] = useState(false);
  const [reporting, setReporting] = useState(false);
  useEffect(() => {
    let live = true;
    const load = () =>
      void m.client.messages(id, { limit: 50 }).then((list) => {
        if (live) setMessages(list as Message[]);
      });
    load();
    // A request's messages emit no events (nothing of it shows until accepted): look again now and then.
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [m, id]);
  if (r === undefined) {
    return (
      <section className="page" aria-labelledby="request-gone">
        <header className="page-head">
          <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'requests' })} />
          <h2 id="request-gone">{t('requests.title')}</h2>
        </header>
        <p className="empty">{t('requests.gone')}</p>
      </section>
    );
  }
  const name = nameOf(m, r);
  const card = r.card;
  const verdict = m.consent.scam.get(id);
  const act = async (f: () => Promise<void>, then: () => void) => {
    setBusy(true);
    try {
      await f();
      then();
    } catch (e) {
      m.toast(m.errorText(e), 'error');
    } finally {
      setBusy(false);
    }
  };
  const ageDays =
    card.accountCreatedAt === undefined ? undefined : Math.floor((Date.now() - card.accountCreatedAt) / DAY);
  return (
    <section className="page request" aria-labelledby="request-title" data-request={r.kind}>
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'requests' })} />
        <h2 id="request-title">
          {r.kind === 'group' ? t('requests.groupFrom', { name }) : t('requests.messageFrom', { name })}
        </h2>
      </header>
      {verdict !== undefined && <ScamWarning verdict={verdict} />}
      <section className="card-section context-card" aria-labelledby="request-card">
        <h3 id="request-card">{t('requests.about', { name })}</h3>
        <div className="row">
          <Avatar name={name} id={r.from.userId} size={56} />
          <p className="grow">
            <strong>{name}</strong> <span className="muted">@{r.from.username}</span>
          </p>
        </div>
        <ul className="facts">
          <li data-fact="age">
            {ageDays === undefined
              ? t('requests.ageUnknown')
              : ageDays < 1
                ? t('requests.ageToday')
                : tp('requests.ageDays', ageDays)}
            {ageDays !== undefined && ageDays < 7 && <strong className="warn"> · {t('requests.new')}</strong>}
          </li>
          <li data-fact="groups">
            {card.groupsInCommon.length === 0
              ? t('requests.noGroupsInCommon')
              : `${tp('requests.groupsInCommon', card.groupsInCommon.length)}: ${card.groupsInCommon
                  .map((g) => g.title)
                  .join(', ')}`}
          </li>
          {card.nameChangedRecently && (
            <li data-fact="name" className="warn">
              {t('requests.nameChanged')}
            </li>
          )}
          <li
            data-fact="reported"
            className={card.reported === 'some' || card.reported === 'many' ? 'warn' : ''}
          >
            {t(
              card.reported === 'many'
                ? 'requests.reportedMany'
                : card.reported === 'some'
                  ? 'requests.reportedSome'
                  : card.reported === 'none'
                    ? 'requests.reportedNone'
                    : 'requests.reportedUnknown',
            )}
          </li>
        </ul>
        {r.overview !== undefined && (
          <>
            <h4>{t('requests.overview')}</h4>
            <ul className="facts" data-overview="">
              <li>
                {t('requests.createdBy', {
                  name:
                    r.overview.createdBy === undefined
                      ? t('requests.unknown')
                      : `@${r.overview.createdBy.username}`,
                })}
              </li>
              <li>{t('requests.addedBy', { name: `@${r.overview.addedBy.username}` })}</li>
              <li>{tp('requests.members', r.overview.size)}</li>
              {r.overview.createdAt !== undefined && (
                <li>
                  {t('requests.groupCreated', {
                    date: new Date(r.overview.createdAt).toLocaleDateString(lang),
                  })}
                </li>
              )}
            </ul>
          </>
        )}
      </section>
      <section className="card-section" aria-labelledby="request-messages">
        <h3 id="request-messages">{t('requests.theirMessages')}</h3>
        <p className="hint">{t('requests.blurHint')}</p>
        <ul className="request-messages">
          {messages
            .filter((msg) => !msg.outgoing)
            .map((msg) => (
              <RequestMessage key={msg.id} m={m} msg={msg} group={r.kind === 'group'} />
            ))}
        </ul>
      </section>
      <div className="row wrap request-actions">
        <button
          type="button"
          className="button primary"
          disabled={busy}
          onClick={() =>
            void act(
              () => m.consent.accept(id),
              () => {
                void m.reloadChats();
                go({ name: 'chat', id });
              },
            )
          }
        >
          {t('requests.accept')}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() =>
            void act(
              () => m.consent.decline(id),
              () => go({ name: 'requests' }),
            )
          }
        >
          {t('requests.decline')}
        </button>
        <button
          type="button"
          className="button danger"
          disabled={busy}
          onClick={() =>
            void act(
              async () => {
                // The SDK blocks at the server; the app's own list only needs to follow.
                await m.consent.block(id);
                m.noteBlocked(r.from, true);
              },
              () => go({ name: 'requests' }),
            )
          }
        >
          {t('requests.block')}
        </button>
        <button type="button" className="button danger" disabled={busy} onClick={() => setReporting(true)}>
          {t('requests.blockReport')}
        </button>
      </div>
      {reporting && (
        <ReportDialog
          conversationId={id}
          messageIds={messages.filter((x) => !x.outgoing && x.from.userId === r.from.userId).map((x) => x.id)}
          name={name}
          defaultCategory={verdict?.level === 'likely' ? 'scam' : 'spam'}
          onClose={() => setReporting(false)}
          onDone={async () => {
            await m.consent.block(id);
            m.noteBlocked(r.from, true);
            go({ name: 'requests' });
          }}
        />
      )}
    </section>
  );
}

/** A request's message: text as plain text (links dead), media blurred and not opened. */
function RequestMessage({ m, msg, group }: { m: Messenger; msg: Message; group: boolean }) {
  const { t, lang } = useT();
  const a = attachmentOf(msg);
  const d = m.downloads.get(msg.id);
  const image = a?.mime.startsWith('image/') === true;
  useEffect(() => {
    // Pictures come down to be shown blurred; nothing else is fetched until the request is accepted.
    if (image && d === undefined && a !== undefined && a.size <= 10 * 1024 * 1024) void m.download(msg);
  }, [image, d, a, m, msg]);
  return (
    <li className="bubble request-message" data-id={msg.id}>
      {group && <span className="sender">{m.nameOf(msg.from.username)}</span>}
      {msg.body.type === 'text' ? (
        <p className="text">{msg.body.text}</p>
      ) : a !== undefined ? (
        image && d?.url !== undefined ? (
          <img src={d.url} alt={t('requests.blurred')} className="image blurred" data-blurred="" />
        ) : (
          <p className="file blurred-file" data-blurred="">
            <Icon name="attach" size={20} /> {t('requests.hiddenFile', { size: formatBytes(a.size, lang) })}
          </p>
        )
      ) : null}
    </li>
  );
}

const SIGNAL_KEYS: Record<ScamSignalId, Key> = {
  'code-request': 'scam.signal.code',
  'urgent-money': 'scam.signal.money',
  'impersonation-bank': 'scam.signal.bank',
  'impersonation-police': 'scam.signal.police',
  'impersonation-official': 'scam.signal.official',
  investment: 'scam.signal.investment',
  link: 'scam.signal.link',
  'suspicious-link': 'scam.signal.suspiciousLink',
  secrecy: 'scam.signal.secrecy',
  'remote-access': 'scam.signal.remote',
  prize: 'scam.signal.prize',
};

/** What the on-device classifier found, and why (its signals); it never left this device. */
export function ScamWarning({ verdict }: { verdict: ConversationVerdict }) {
  const { t } = useT();
  const ids = new Set(verdict.signals.map((s) => s.id));
  // A suspicious link says all that "contains a link" would.
  if (ids.has('suspicious-link')) ids.delete('link');
  const reasons = [...ids].map((id) => SIGNAL_KEYS[id]);
  return (
    <div className={`scam-warning ${verdict.level}`} role="alert" data-scam={verdict.level}>
      <Icon name="alert" />
      <div className="grow">
        <strong>{t(verdict.level === 'likely' ? 'scam.likely' : 'scam.possible')}</strong>
        {reasons.length > 0 && (
          <ul>
            {reasons.map((k) => (
              <li key={k}>{t(k)}</li>
            ))}
          </ul>
        )}
        <p className="hint">{t('scam.advice')}</p>
      </div>
    </div>
  );
}

const CATEGORY_KEYS: Record<ReportCategory, Key> = {
  scam: 'report.catScam',
  spam: 'report.catSpam',
  harassment: 'report.catHarassment',
  impersonation: 'report.catImpersonation',
  illegal: 'report.catIllegal',
  other: 'report.catOther',
};

export function ReportDialog({
  conversationId,
  messageIds,
  name,
  defaultCategory,
  offerBlock,
  onClose,
  onDone,
}: {
  conversationId: string;
  messageIds: string[];
  name: string;
  defaultCategory: ReportCategory;
  /** Offers "also block" (checked) for this person. */
  offerBlock?: { userId: string; username: string };
  onClose: () => void;
  onDone?: () => Promise<void> | void;
}) {
  const m = useMessenger();
  const { t } = useT();
  const [category, setCategory] = useState<ReportCategory>(defaultCategory);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [alsoBlock, setAlsoBlock] = useState(true);
  return (
    <Dialog title={t('report.title', { name })} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await m.consent.report({
              conversationId,
              messageIds: messageIds.slice(-20),
              category,
              ...(comment.trim() === '' ? {} : { comment: comment.trim() }),
            });
            m.toast(t('report.sent'));
            if (offerBlock !== undefined && alsoBlock) await m.block(offerBlock, true);
            await onDone?.();
            onClose();
          } catch (err) {
            setError(m.errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <p className="hint">{t('report.explain', { count: Math.min(messageIds.length, 20) })}</p>
        <fieldset className="choices">
          <legend>{t('report.category')}</legend>
          {REPORT_CATEGORIES.map((c) => (
            <label key={c} className="choice">
              <input
                type="radio"
                name="report-category"
                value={c}
                checked={category === c}
                onChange={() => setCategory(c)}
              />{' '}
              {t(CATEGORY_KEYS[c])}
            </label>
          ))}
        </fieldset>
        <Field label={t('report.comment')}>
          {({ id }) => (
            <textarea
              id={id}
              maxLength={1000}
              rows={3}
              value={comment}
              onChange={(e) => setComment(e.target.value)}
            />
          )}
        </Field>
        {offerBlock !== undefined && (
          <label className="choice">
            <input type="checkbox" checked={alsoBlock} onChange={(e) => setAlsoBlock(e.target.checked)} />{' '}
            {t('report.alsoBlock', { name })}
          </label>
        )}
        {error !== undefined && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row end">
          <button type="button" className="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="button danger" disabled={busy || messageIds.length === 0}>
            {t('report.send')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The account is suspended: why, and a way to appeal; nothing else works until it is lifted. */
export function SuspendedPage() {
  const m = useMessenger();
  const { t, lang } = useT();
  const s = m.consent.suspended;
  const [text, setText] = useState('');
  const [state, setState] = useState<'idle' | 'busy' | 'sent'>('idle');
  const [error, setError] = useState<string>();
  return (
    <section className="page narrow-page suspended" aria-labelledby="suspended-title">
      <Icon name="alert" size={48} />
      <h2 id="suspended-title">{t('moderation.suspendedTitle')}</h2>
      <p>
        {s?.at === undefined
          ? t('moderation.suspended')
          : t('moderation.suspendedAt', { date: new Date(s.at).toLocaleString(lang) })}
      </p>
      {s?.reason !== undefined && (
        <p data-reason="">
          {t('moderation.reason')}: <strong>{s.reason}</strong>
        </p>
      )}
      {state === 'sent' ? (
        <p role="status">{t('moderation.appealSent')}</p>
      ) : (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setState('busy');
            setError(undefined);
            try {
              await m.consent.appeal(text.trim());
              setState('sent');
            } catch (err) {
              setError(m.errorText(err));
              setState('idle');
            }
          }}
        >
          <Field label={t('moderation.appeal')}>
            {({ id }) => (
              <textarea
                id={id}
                rows={4}
                maxLength={2000}
                required
                value={text}
                onChange={(e) => setText(e.target.value)}
              />
            )}
          </Field>
          {error !== undefined && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary" disabled={state === 'busy' || text.trim() === ''}>
            {t('moderation.sendAppeal')}
          </button>
        </form>
      )}
      <p className="hint">{t('moderation.waiting')}</p>
    </section>
  );
}

/** The operator's warnings, one at a time, until the user acknowledges each. */
export function WarningDialog() {
  const m = useMessenger();
  const { t } = useT();
  const w = m.consent.warnings[0];
  if (w === undefined) return null;
  return (
    <Dialog title={t('moderation.warningTitle')} onClose={() => m.consent.dismissWarning(w.id)}>
      <p data-warning="">{w.reason ?? t('moderation.warningNoReason')}</p>
      <p className="hint">{t('moderation.warningHint')}</p>
      <div className="row end">
        <button type="button" className="button primary" onClick={() => m.consent.dismissWarning(w.id)}>
          {t('common.ok')}
        </button>
      </div>
    </Dialog>
  );
}
