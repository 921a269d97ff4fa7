import { useEffect, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { safetyGroups } from '../lib/format.ts';
import { parseSafetyQr, safetyQrText, sameBytes } from '../lib/safety.ts';
import { ext } from '../sdk/ext.ts';
import { Field, Icon, IconButton, QrCode, QrScanner } from './common.tsx';
import { go, useMessenger } from './hooks.ts';

export function Safety({ id, username }: { id: string; username: string }) {
  const m = useMessenger();
  const { t } = useT();
  const [number, setNumber] = useState<{ digits: string; qr: Uint8Array }>();
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<'match' | 'mismatch'>();
  const [scan, setScan] = useState(false);
  const [pasted, setPasted] = useState('');
  const name = m.nameOf(username);
  useEffect(() => {
    let live = true;
    m.client
      .safetyNumber(username)
      .then((n) => live && setNumber(n))
      .catch((e: unknown) => live && setError(m.errorText(e)));
    return () => {
      live = false;
    };
  }, [m, username]);
  const verified = m.isVerified(username);

  const check = async (text: string) => {
    const payload = parseSafetyQr(text);
    if (number === undefined || payload === undefined) {
      setResult('mismatch');
      return;
    }
    const x = ext(m.client);
    const userId = m.userIdOf(username);
    const ok =
      x.verifySafetyQr !== undefined && userId !== undefined
        ? await x.verifySafetyQr(userId, payload)
        : sameBytes(payload, number.qr);
    setResult(ok ? 'match' : 'mismatch');
    if (ok) await m.setVerified(username, true);
  };

  return (
    <section className="page" aria-labelledby="safety-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'chat', id })} />
        <h2 id="safety-title">{t('safety.title')}</h2>
      </header>
      <p>{t('safety.intro', { name })}</p>
      {error !== undefined && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {number !== undefined && (
        <div className="safety">
          <QrCode text={safetyQrText(number.qr)} label={t('safety.qr')} />
          <ol className="digits" aria-label={t('safety.digits')}>
            {safetyGroups(number.digits).map((g, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: the groups are positional and never reorder
              <li key={i}>{g}</li>
            ))}
          </ol>
          <details>
            <summary>{t('safety.showCode')}</summary>
            <code className="payload" data-testid="safety-payload">
              {safetyQrText(number.qr)}
            </code>
          </details>
        </div>
      )}
      <p className={`status-line ${verified ? 'ok' : ''}`} role="status">
        <Icon name={verified ? 'shield' : 'lock'} size={16} />{' '}
        {result === 'match'
          ? t('safety.matched', { name })
          : verified
            ? t('safety.isVerified', { name })
            : t('safety.notVerified', { name })}
      </p>
      {result === 'mismatch' && (
        <p className="error" role="alert">
          {t('err.qrMismatch')}
        </p>
      )}
      <div className="row wrap">
        <button type="button" className="button" onClick={() => setScan(true)}>
          <Icon name="qr" /> {t('safety.scan')}
        </button>
        {verified ? (
          <button type="button" className="button" onClick={() => void m.setVerified(username, false)}>
            {t('safety.clearVerified')}
          </button>
        ) : (
          <button type="button" className="button primary" onClick={() => void m.setVerified(username, true)}>
            {t('safety.markVerified')}
          </button>
        )}
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void check(pasted);
        }}
      >
        <Field label={t('safety.pasteLabel')}>
          {({ id: fid }) => (
            <div className="row">
              <input
                id={fid}
                className="grow"
                spellCheck={false}
                value={pasted}
                onChange={(e) => setPasted(e.target.value)}
              />
              <button type="submit" className="button" disabled={pasted.trim() === ''}>
                {t('safety.check')}
              </button>
            </div>
          )}
        </Field>
      </form>
      {scan && (
        <QrScanner
          onClose={() => setScan(false)}
          onResult={(text) => {
            setScan(false);
            void check(text);
          }}
        />
      )}
    </section>
  );
}
