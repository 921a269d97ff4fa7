import jsQR from 'jsqr';
import QRCode from 'qrcode';
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { hueOf, initials } from '../lib/format.ts';

export function Avatar({
  name,
  id,
  src,
  size = 40,
}: {
  name: string;
  id: string;
  src?: string | undefined;
  size?: number;
}) {
  const { t } = useT();
  const style = {
    width: size,
    height: size,
    fontSize: size * 0.4,
    '--hue': String(hueOf(id)),
  } as React.CSSProperties;
  if (src !== undefined)
    return <img className="avatar" src={src} alt={t('common.avatarOf', { name })} style={style} />;
  return (
    <span className="avatar" style={style} aria-hidden="true">
      {initials(name)}
    </span>
  );
}

type IconName =
  | 'settings'
  | 'devices'
  | 'chat'
  | 'group'
  | 'send'
  | 'attach'
  | 'mic'
  | 'stop'
  | 'close'
  | 'back'
  | 'lock'
  | 'shield'
  | 'search'
  | 'more'
  | 'check'
  | 'checks'
  | 'clock'
  | 'alert'
  | 'reply'
  | 'download'
  | 'contacts'
  | 'up'
  | 'down'
  | 'trash'
  | 'qr'
  | 'refresh'
  | 'phone'
  | 'video'
  | 'screen'
  | 'hangup'
  | 'history';

const PATHS: Record<IconName, string> = {
  settings:
    'M12 15.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7Zm7.4-2.5.1-1-.1-1 2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L14.9 3h-4l-.4 2.6c-.6.3-1.2.6-1.7 1l-2.5-1-2 3.5L6.5 11l-.1 1 .1 1-2.1 1.6 2 3.5 2.5-1c.5.4 1.1.7 1.7 1l.4 2.6h4l.4-2.6c.6-.3 1.2-.6 1.7-1l2.5 1 2-3.5-2.2-1.6Z',
  devices: 'M4 6h13v9H4zM2 17h17M20 9h3v10h-3z',
  chat: 'M4 5h16v11H8l-4 4z',
  group:
    'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6Zm7 0a2.5 2.5 0 1 0 0-5M3 19c0-3 3-5 6-5s6 2 6 5M16 14c2.5 0 5 1.5 5 4.5',
  send: 'M3 20 21 12 3 4l3 8zm3-8h8',
  attach: 'M16.5 6.5 8 15a2.1 2.1 0 0 0 3 3l8.5-8.5a4.2 4.2 0 0 0-6-6L5 12a6.4 6.4 0 0 0 9 9l6-6',
  mic: 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3Zm-7 9a7 7 0 0 0 14 0M12 19v3',
  stop: 'M7 7h10v10H7z',
  close: 'M6 6l12 12M18 6 6 18',
  back: 'M15 5 8 12l7 7',
  lock: 'M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3',
  shield: 'M12 3 4 6v6c0 4.5 3.4 8 8 9 4.6-1 8-4.5 8-9V6zM8.5 12l2.5 2.5 4.5-5',
  search: 'M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13Zm4.6-1.9L20 20',
  more: 'M12 6h.01M12 12h.01M12 18h.01',
  check: 'M5 12.5 10 17 19 7',
  checks: 'M2 12.5 7 17 16 7M10 16l1 1 10-10',
  clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18Zm0-14v5l3 2',
  alert: 'M12 3 2 20h20zM12 10v4M12 17h.01',
  reply: 'M10 8 4 13l6 5M4 13h10a6 6 0 0 1 6 6',
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  contacts: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8Zm-7 9c0-4 3.1-6 7-6s7 2 7 6',
  up: 'M6 15l6-6 6 6',
  down: 'M6 9l6 6 6-6',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  phone: 'M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2',
  video: 'M3 7h12v10H3zM15 11l6-4v10l-6-4',
  screen: 'M3 4h18v12H3zM8 20h8M12 16v4M9 10l3-3 3 3M12 7v6',
  hangup: 'M3 14c5-5 13-5 18 0l-2 3-4-1v-3a9 9 0 0 0-6 0v3l-4 1z',
  history: 'M12 21a9 9 0 1 0-9-9M3 5v7h7M12 7v5l3 2',
  refresh: 'M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7',
  qr: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 18h2v2h-2zM14 18h2v2h-2zM18 14h2v2h-2z',
};

/** Decorative unless `label` is given; then it is an image with that name (e.g. a message status). */
export function Icon({ name, size = 20, label }: { name: IconName; size?: number; label?: string }) {
  if (label !== undefined)
    return (
      <svg
        className="icon"
        width={size}
        height={size}
        viewBox="0 0 24 24"
        role="img"
        aria-label={label}
        focusable="false"
        fill="none"
        stroke="currentColor"
        strokeWidth={1.8}
        strokeLinecap="round"
        strokeLinejoin="round"
      >
        <title>{label}</title>
        <path d={PATHS[name]} />
      </svg>
    );
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      aria-hidden="true"
      focusable="false"
      fill="none"
      stroke="currentColor"
      strokeWidth={name === 'more' ? 3 : 1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}

/** A button that shows only an icon; its accessible name is the label (also its tooltip). */
export function IconButton({
  icon,
  label,
  onClick,
  disabled,
  className,
  pressed,
  expanded,
}: {
  icon: IconName;
  label: string;
  onClick: () => void;
  disabled?: boolean;
  className?: string;
  pressed?: boolean;
  expanded?: boolean;
}) {
  return (
    <button
      type="button"
      className={`icon-button ${className ?? ''}`}
      aria-label={label}
      title={label}
      onClick={onClick}
      disabled={disabled}
      aria-pressed={pressed}
      aria-expanded={expanded}
    >
      <Icon name={icon} />
    </button>
  );
}

const TABBABLE = 'a[href], button, input, select, textarea, summary, [tabindex]';

/**
 * A modal on the native <dialog>: the rest of the page is inert, Escape closes, and the focus
 * returns to the opener. The focus starts in the first field, if any, and Tab wraps around inside.
 */
export function Dialog({
  title,
  onClose,
  children,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
}) {
  const { t } = useT();
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    const opener = document.activeElement;
    if (d !== null && !d.open) {
      d.showModal();
      // The browser would focus the close button first; what the person came to type is the field.
      d.querySelector<HTMLElement>('.dialog-body :is(input, textarea, select):not(:disabled)')?.focus();
    }
    return () => {
      d?.close();
      // React removes the dialog before this runs, and a removed dialog gives the focus back to no
      // one: hand it to the opener ourselves.
      if (opener instanceof HTMLElement && opener.isConnected && !d?.contains(opener)) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog ${wide === true ? 'wide' : ''}`}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        // Chromium lets Tab run past the last control of a modal dialog out to the browser's own
        // controls, where a keyboard user loses the page; wrap around instead. A nested dialog
        // (the QR scanner) handles its own keys.
        const d = ref.current;
        if (e.key !== 'Tab' || d === null || (e.target as Element).closest('dialog') !== d) return;
        const stops = [...d.querySelectorAll<HTMLElement>(TABBABLE)].filter(
          (el) =>
            el.tabIndex >= 0 &&
            !el.matches(':disabled') &&
            el.closest('dialog') === d &&
            el.getClientRects().length > 0,
        );
        const first = stops[0];
        const last = stops.at(-1);
        if (first === undefined || last === undefined) return;
        if (e.shiftKey && (document.activeElement === first || document.activeElement === d)) {
          e.preventDefault();
          last.focus();
        } else if (!e.shiftKey && document.activeElement === last) {
          e.preventDefault();
          first.focus();
        }
      }}
    >
      <header className="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <IconButton icon="close" label={t('nav.close')} onClick={onClose} />
      </header>
      <div className="dialog-body">{children}</div>
    </dialog>
  );
}

export function Confirm({
  title,
  text,
  confirmLabel,
  danger,
  onConfirm,
  onClose,
}: {
  title: string;
  text: string;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void | Promise<void>;
  onClose: () => void;
}) {
  const { t } = useT();
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={title} onClose={onClose}>
      <p>{text}</p>
      <div className="row end">
        <button type="button" className="button" onClick={onClose}>
          {t('common.cancel')}
        </button>
        <button
          type="button"
          className={`button ${danger === true ? 'danger' : 'primary'}`}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await onConfirm();
            } finally {
              setBusy(false);
            }
            onClose();
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

export function QrCode({ text, label, size = 220 }: { text: string; label: string; size?: number }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(text, { margin: 1, width: size, errorCorrectionLevel: 'M' })
      .then((u) => live && setUrl(u))
      .catch(() => setUrl(undefined));
    return () => {
      live = false;
    };
  }, [text, size]);
  return url === undefined ? (
    <div className="qr" style={{ width: size, height: size }} />
  ) : (
    <img className="qr" src={url} width={size} height={size} alt={label} />
  );
}

/** Camera preview that reports the first QR code it reads (jsQR on canvas frames, about 4 per second). */
export function QrScanner({ onResult, onClose }: { onResult: (text: string) => void; onClose: () => void }) {
  const { t } = useT();
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState(false);
  // Callers pass a fresh arrow on every render; were it an effect dependency, each render of the
  // parent would stop the camera and start it again.
  const report = useRef(onResult);
  useEffect(() => {
    report.current = onResult;
  });
  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    let done = false;
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
      } catch {
        setError(true);
        return;
      }
      const v = video.current;
      if (v === null || done) return;
      v.srcObject = stream;
      await v.play().catch(() => {});
      timer = setInterval(() => {
        if (ctx === null || v.videoWidth === 0) return;
        canvas.width = v.videoWidth;
        canvas.height = v.videoHeight;
        ctx.drawImage(v, 0, 0);
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const code = jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' });
        if (code !== null && code.data !== '' && !done) {
          done = true;
          report.current(code.data);
        }
      }, 250);
    })();
    return () => {
      done = true;
      if (timer !== undefined) clearInterval(timer);
      for (const tr of stream?.getTracks() ?? []) tr.stop();
    };
  }, []);
  return (
    <Dialog title={t('scan.title')} onClose={onClose}>
      {error ? (
        <p role="alert">{t('err.camera')}</p>
      ) : (
        <>
          <video ref={video} className="scanner" muted playsInline aria-label={t('scan.video')} />
          <p className="hint">{t('scan.hint')}</p>
        </>
      )}
    </Dialog>
  );
}

export function Field({
  label,
  hint,
  error,
  children,
}: {
  label: string;
  hint?: string | undefined;
  error?: string | undefined;
  children: (ids: { id: string; describedBy: string | undefined }) => ReactNode;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const describedBy =
    [hint !== undefined ? hintId : '', error !== undefined ? errId : ''].filter(Boolean).join(' ') ||
    undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, describedBy })}
      {hint !== undefined && (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error !== undefined && (
        <p className="error" id={errId} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export async function dataUrlBytes(url: string): Promise<{ mime: string; bytes: Uint8Array }> {
  const res = await fetch(url);
  return {
    mime: res.headers.get('content-type') ?? 'image/webp',
    bytes: new Uint8Array(await res.arrayBuffer()),
  };
}

/** Reads an image file into a small square data: URL (avatars stay small enough for any store). */
export async function avatarFromFile(file: File, size = 128): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  if (ctx === null) throw new Error('no 2d canvas');
  const s = Math.min(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, (bitmap.width - s) / 2, (bitmap.height - s) / 2, s, s, 0, 0, size, size);
  return canvas.toDataURL('image/webp', 0.85);
}
