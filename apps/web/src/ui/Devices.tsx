import type { DeviceInfo } from '@kolokol/sdk';
import { useCallback, useEffect, useState } from 'react';
import { useT } from '../i18n/react.ts';
import { Confirm, copyText, Dialog, Icon, IconButton, QrCode } from './common.tsx';
import { go, useMessenger } from './hooks.ts';

export function Devices() {
  const m = useMessenger();
  const { t, lang } = useT();
  const [devices, setDevices] = useState<DeviceInfo[]>();
  const [linking, setLinking] = useState(false);
  const [revoking, setRevoking] = useState<DeviceInfo>();
  const load = useCallback(() => {
    m.client
      .devices()
      .then(setDevices)
      .catch((e: unknown) => m.toast(m.errorText(e), 'error'));
  }, [m]);
  useEffect(() => {
    load();
    const on = () => load();
    m.client.on('deviceAdded', on);
    m.client.on('deviceRevoked', on);
    return () => {
      m.client.off('deviceAdded', on);
      m.client.off('deviceRevoked', on);
    };
  }, [m, load]);
  const nameOf = (d: DeviceInfo) => d.name ?? t('devices.unnamed', { id: d.deviceId.slice(0, 6) });
  return (
    <section className="page" aria-labelledby="devices-title">
      <header className="page-head">
        <IconButton icon="back" label={t('nav.back')} onClick={() => go({ name: 'home' })} />
        <h2 id="devices-title" className="grow">
          {t('devices.title')}
        </h2>
        <IconButton icon="refresh" label={t('devices.refresh')} onClick={load} />
      </header>
      <p>{t('devices.intro')}</p>
      <button type="button" className="button primary" onClick={() => setLinking(true)}>
        <Icon name="qr" /> {t('devices.link')}
      </button>
      <ul className="plain devices" aria-label={t('devices.title')} aria-busy={devices === undefined}>
        {devices?.map((d) => (
          <li key={d.deviceId} className="device">
            <Icon name="devices" size={28} />
            <div className="grow">
              <p>
                <strong>{nameOf(d)}</strong> {d.current && <span className="tag">{t('devices.this')}</span>}
              </p>
              <p className="muted">
                {t('devices.added', {
                  date: new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(
                    d.createdAt,
                  ),
                })}
              </p>
              <p className={d.verified ? 'muted' : 'error'}>
                {d.verified ? t('devices.certOk') : t('devices.certBad')}
              </p>
            </div>
            {!d.current && (
              <button type="button" className="button danger small" onClick={() => setRevoking(d)}>
                {t('devices.revoke', { name: nameOf(d) })}
              </button>
            )}
          </li>
        ))}
      </ul>
      {linking && (
        <LinkDialog
          onClose={() => {
            setLinking(false);
            load();
          }}
        />
      )}
      {revoking !== undefined && (
        <Confirm
          title={t('devices.revoke', { name: nameOf(revoking) })}
          text={t('devices.revokeConfirm', { name: nameOf(revoking) })}
          confirmLabel={t('devices.revoke', { name: nameOf(revoking) })}
          danger
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            try {
              await m.client.revokeDevice(revoking.deviceId);
            } catch (e) {
              m.toast(m.errorText(e), 'error');
            }
            load();
          }}
        />
      )}
    </section>
  );
}

function LinkDialog({ onClose }: { onClose: () => void }) {
  const m = useMessenger();
  const { t } = useT();
  const [code, setCode] = useState<string>();
  const [error, setError] = useState<string>();
  const make = useCallback(() => {
    setCode(undefined);
    setError(undefined);
    m.client
      .createLinkCode()
      .then(setCode)
      .catch((e: unknown) => setError(m.errorText(e)));
  }, [m]);
  useEffect(() => make(), [make]);
  return (
    <Dialog title={t('devices.linkTitle')} onClose={onClose}>
      <p>{t('devices.linkSteps')}</p>
      {error !== undefined && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {code !== undefined && (
        <div className="link-code">
          <QrCode text={code} label={t('devices.qr')} size={240} />
          <p>
            <strong>{t('devices.code')}</strong>
          </p>
          <code className="payload" data-testid="link-code">
            {code}
          </code>
          <div className="row wrap">
            <button
              type="button"
              className="button"
              onClick={async () => {
                if (await copyText(code)) m.toast(t('common.copied'));
              }}
            >
              {t('devices.copyCode')}
            </button>
            <button type="button" className="button" onClick={make}>
              {t('devices.newCode')}
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}
