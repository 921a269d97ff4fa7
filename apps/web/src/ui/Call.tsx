/**
 * Calls on screen: the call buttons of a direct chat, the incoming-call dialog, the call panel
 * (controls, videos, devices, volume, connection details) and the call history.
 */
import type { ConnectionDetails } from '@kolokol/calls';
import { CALL_SCAM_TIPS } from '@kolokol/scam';
import type { CallRecord } from '@kolokol/sdk';
import { useEffect, useId, useRef, useState } from 'react';
import type { Key } from '../i18n/catalog.ts';
import { useT } from '../i18n/react.ts';
import { formatDuration, listTime } from '../lib/format.ts';
import type { Messenger } from '../messenger.ts';
import { Confirm, Dialog, IconButton } from './common.tsx';
import { go, useMessenger } from './hooks.ts';

/** Voice and video call buttons for a chat header. */
export function CallButtons({ conversationId }: { conversationId: string }) {
  const m = useMessenger();
  const { t } = useT();
  const busy = m.calls.call !== undefined;
  return (
    <>
      <IconButton
        icon="phone"
        label={t('call.voice')}
        disabled={busy}
        onClick={() => void m.startCall(conversationId, false)}
      />
      <IconButton
        icon="video"
        label={t('call.video')}
        disabled={busy}
        onClick={() => void m.startCall(conversationId, true)}
      />
    </>
  );
}

/** Whatever call this device has: ringing in, or the call panel. */
export function CallLayer() {
  const m = useMessenger();
  const call = m.calls.call;
  if (call === undefined || call.state === 'ended') return null;
  if (call.state === 'ringing-in') return <Incoming m={m} />;
  return <ActiveCall m={m} />;
}

function peerName(m: Messenger): string {
  const call = m.calls.call;
  return call === undefined ? '' : m.nameOf(m.usernameOf(call.peerUserId));
}

/** The other side of the live call is not in our contacts. */
function withStranger(m: Messenger): boolean {
  const call = m.calls.call;
  return call !== undefined && !m.isContact(m.usernameOf(call.peerUserId));
}

/** The common tactics of phone scams (packages/scam), for the banner of a call with a non-contact. */
const TIP_KEYS: Record<(typeof CALL_SCAM_TIPS)[number], Key> = {
  'never-share-codes': 'scam.tip.codes',
  'bank-never-calls': 'scam.tip.bank',
  'hang-up-and-call-back': 'scam.tip.callBack',
  'no-safe-account': 'scam.tip.safeAccount',
  'no-remote-access': 'scam.tip.remote',
  'police-never-ask-money': 'scam.tip.police',
  'no-secrecy': 'scam.tip.secrecy',
};
const SCAM_TIPS: readonly Key[] = CALL_SCAM_TIPS.map((id) => TIP_KEYS[id]);

function StrangerCallBanner() {
  const { t } = useT();
  return (
    <aside className="call-scam" aria-label={t('scam.callTitle')} data-stranger-call="">
      <strong>{t('scam.callTitle')}</strong>
      <ul>
        {SCAM_TIPS.map((k) => (
          <li key={k}>{t(k)}</li>
        ))}
      </ul>
    </aside>
  );
}

function Incoming({ m }: { m: Messenger }) {
  const { t } = useT();
  const titleId = useId();
  const call = m.calls.call;
  const name = peerName(m);
  return (
    <div
      className="call-incoming"
      role="alertdialog"
      aria-labelledby={titleId}
      data-tone={m.calls.tone ?? 'none'}
    >
      <h2 id={titleId}>{t(call?.video === true ? 'call.incomingVideo' : 'call.incoming', { name })}</h2>
      {withStranger(m) && <p className="warn">{t('scam.notContact')}</p>}
      <div className="row">
        <button type="button" className="button primary" onClick={() => void m.calls.accept()}>
          {t('call.accept')}
        </button>
        <button type="button" className="button danger" onClick={() => void m.calls.decline()}>
          {t('call.decline')}
        </button>
      </div>
    </div>
  );
}

function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

function Media({
  stream,
  kind,
  muted,
  volume,
  label,
  className,
}: {
  stream: MediaStream | undefined;
  kind: 'video' | 'audio';
  muted: boolean;
  volume?: number;
  label?: string;
  className?: string;
}) {
  const ref = useRef<HTMLVideoElement & HTMLAudioElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    if (el.srcObject !== (stream ?? null)) el.srcObject = stream ?? null;
    if (stream !== undefined) void el.play().catch(() => {});
  });
  useEffect(() => {
    if (ref.current !== null && volume !== undefined) ref.current.volume = volume;
  }, [volume]);
  if (kind === 'audio') return <audio ref={ref} autoPlay muted={muted} />;
  return <video ref={ref} className={className} autoPlay playsInline muted={muted} aria-label={label} />;
}

function ActiveCall({ m }: { m: Messenger }) {
  const { t } = useT();
  const c = m.calls;
  const call = c.call;
  const now = useNow(1000);
  const titleId = useId();
  const [confirmShare, setConfirmShare] = useState(false);
  if (call === undefined) return null;
  const stranger = withStranger(m);
  const share = () => void c.toggleScreen().catch((e: unknown) => console.warn(e));
  const name = peerName(m);
  const status =
    call.state === 'connected'
      ? t('call.connected', { time: formatDuration(now - (call.answeredAt ?? now)) })
      : call.state === 'connecting'
        ? t('call.connecting')
        : call.remoteRinging
          ? t('call.ringing')
          : t('call.calling');
  return (
    <section
      className={`call-panel ${call.video ? 'video' : ''}`}
      aria-labelledby={titleId}
      data-tone={c.tone ?? 'none'}
    >
      <header className="call-head">
        <h2 id={titleId}>{t('call.with', { name })}</h2>
        <p className="muted" role="status">
          {status}
        </p>
      </header>
      {call.video ? (
        <div className="call-videos">
          <Media
            stream={c.remoteStream}
            kind="video"
            muted={false}
            volume={c.volume}
            label={t('call.remoteVideo', { name })}
            className="remote"
          />
          <Media stream={c.localStream} kind="video" muted label={t('call.localVideo')} className="local" />
        </div>
      ) : (
        <Media stream={c.remoteStream} kind="audio" muted={false} volume={c.volume} />
      )}
      <div className="call-controls">
        <IconButton icon="mic" label={t('call.mute')} pressed={c.muted} onClick={() => c.toggleMute()} />
        {call.video && (
          <>
            <IconButton
              icon="video"
              label={t('call.camera')}
              pressed={!c.cameraOff}
              onClick={() => c.toggleCamera()}
            />
            <IconButton
              icon="screen"
              label={t('call.share')}
              pressed={c.sharing}
              // Showing one's screen to a stranger is how remote "support" scams start: ask first.
              onClick={() => (stranger && !c.sharing ? setConfirmShare(true) : share())}
            />
          </>
        )}
        <IconButton
          icon="hangup"
          className="danger"
          label={t('call.hangup')}
          onClick={() => void c.hangup()}
        />
      </div>
      <Devices m={m} video={call.video} />
      <label className="call-volume">
        <span>{t('call.volume')}</span>
        <input
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={c.volume}
          onChange={(e) => c.setVolume(Number(e.target.value))}
        />
      </label>
      {stranger && <StrangerCallBanner />}
      <Details details={c.details} />
      {confirmShare && (
        <Confirm
          title={t('call.shareStrangerTitle')}
          text={t('call.shareStrangerText', { name })}
          confirmLabel={t('call.shareAnyway')}
          danger
          onConfirm={share}
          onClose={() => setConfirmShare(false)}
        />
      )}
    </section>
  );
}

function Devices({ m, video }: { m: Messenger; video: boolean }) {
  const { t } = useT();
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    const md = navigator.mediaDevices;
    if (md === undefined) return;
    const load = () =>
      void md
        .enumerateDevices()
        .then(setDevices)
        .catch(() => {});
    load();
    md.addEventListener('devicechange', load);
    return () => md.removeEventListener('devicechange', load);
  }, []);
  const c = m.calls;
  const mics = devices.filter((d) => d.kind === 'audioinput' && d.deviceId !== '');
  const cams = devices.filter((d) => d.kind === 'videoinput' && d.deviceId !== '');
  const current = (kind: 'audio' | 'video') =>
    (kind === 'audio'
      ? c.localStream?.getAudioTracks()[0]
      : c.localStream?.getVideoTracks()[0]
    )?.getSettings().deviceId ?? '';
  const pick = (kind: 'audio' | 'video', id: string) =>
    void c.switchDevice(kind, id).catch((e: unknown) => m.toast(m.errorText(e), 'error'));
  return (
    <div className="call-devices">
      {mics.length > 1 && (
        <label>
          <span>{t('call.micSource')}</span>
          <select value={current('audio')} onChange={(e) => pick('audio', e.target.value)}>
            {mics.map((d, i) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label || `${i + 1}`}
              </option>
            ))}
          </select>
        </label>
      )}
      {video && cams.length > 1 && (
        <label>
          <span>{t('call.camSource')}</span>
          <select value={current('video')} onChange={(e) => pick('video', e.target.value)}>
            {cams.map((d, i) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label || `${i + 1}`}
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}

function Details({ details: d }: { details: ConnectionDetails | undefined }) {
  const { t } = useT();
  const kbps = (bps: number | undefined) =>
    bps === undefined ? '—' : t('call.kbps', { value: Math.round(bps / 1000) });
  const inbound =
    d === undefined || (d.audio?.bitrate === undefined && d.video?.bitrate === undefined)
      ? undefined
      : (d.audio?.bitrate ?? 0) + (d.video?.bitrate ?? 0);
  const route: Key =
    d?.route === 'direct'
      ? 'call.routeDirect'
      : d?.route === 'relay'
        ? 'call.routeRelay'
        : 'call.routeUnknown';
  return (
    <section className="call-details" aria-label={t('call.details')}>
      <h3>{t('call.details')}</h3>
      <dl>
        <dt>{t('call.route')}</dt>
        <dd data-testid="call-route">{d === undefined ? '—' : t(route)}</dd>
        <dt>{t('call.protocol')}</dt>
        <dd data-testid="call-protocol">{d?.protocol?.toUpperCase() ?? '—'}</dd>
        <dt>{t('call.rtt')}</dt>
        <dd data-testid="call-rtt">
          {d?.rttMs === undefined ? '—' : t('call.ms', { value: Math.round(d.rttMs) })}
        </dd>
        <dt>{t('call.bitrateIn')}</dt>
        <dd data-testid="call-bitrate-in">{kbps(inbound)}</dd>
        <dt>{t('call.bitrateOut')}</dt>
        <dd data-testid="call-bitrate-out">{kbps(d?.outgoingBitrate)}</dd>
      </dl>
    </section>
  );
}

const REASONS: Record<CallRecord['reason'], Key> = {
  hangup: 'call.reason.hangup',
  declined: 'call.reason.declined',
  busy: 'call.reason.busy',
  timeout: 'call.reason.timeout',
  cancelled: 'call.reason.cancelled',
  'answered-elsewhere': 'call.reason.answered-elsewhere',
  failed: 'call.reason.failed',
};

/** The sidebar button and the dialog with this device's call history. */
export function CallHistoryButton() {
  const m = useMessenger();
  const { t, lang } = useT();
  const [open, setOpen] = useState(false);
  const now = Date.now();
  return (
    <>
      <IconButton
        icon="history"
        label={t('call.history')}
        onClick={() => {
          void m.calls.reloadHistory();
          setOpen(true);
        }}
      />
      {open && (
        <Dialog title={t('call.history')} onClose={() => setOpen(false)}>
          {m.calls.history.length === 0 ? (
            <p className="muted">{t('call.historyEmpty')}</p>
          ) : (
            <ul className="plain call-history" aria-label={t('call.history')}>
              {m.calls.history.map((r) => (
                <li key={r.callId} className={`member ${r.missed ? 'missed' : ''}`}>
                  <button
                    type="button"
                    className="grow plain-button"
                    onClick={() => {
                      setOpen(false);
                      go({ name: 'chat', id: r.conversationId });
                    }}
                  >
                    <span className="grow">
                      {m.nameOf(r.peer.username)}{' '}
                      <span className="muted">
                        {r.missed
                          ? t('call.missed')
                          : t(r.direction === 'outgoing' ? 'call.outgoing' : 'call.incomingShort')}
                        {' · '}
                        {t(r.video ? 'call.kindVideo' : 'call.kindVoice')}
                        {' · '}
                        {t(REASONS[r.reason])}
                        {r.answeredAt === undefined ? '' : ` · ${formatDuration(r.endedAt - r.answeredAt)}`}
                      </span>
                    </span>
                    <span className="muted">{listTime(r.startedAt, now, lang)}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Dialog>
      )}
    </>
  );
}
