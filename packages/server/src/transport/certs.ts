/**
 * The certificate of the app's TLS listener: the operator's PEM files (reloaded when they change,
 * so a Let's Encrypt renewal needs no restart), or a self-signed one made on first start and kept
 * in `<dataDir>/tls/`.
 *
 * The self-signed certificate comes from `selfsigned` (MIT, maintained, pure JavaScript over
 * WebCrypto through @peculiar/x509; no native addon, nothing to compile): writing X.509 DER by hand
 * is exactly the kind of code we should not own, and node:crypto can parse certificates but not
 * issue them.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { ServerError } from '../errors.ts';
import type { TlsConfig } from './options.ts';

export interface Certificate {
  cert: string;
  key: string;
  source: 'files' | 'self-signed';
  /** SHA-256 fingerprint, for people who compare it with what their browser shows. */
  fingerprint256: string;
  notAfter: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A kept self-signed certificate closer than this to its end is replaced at start. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** Browsers refuse leaf certificates valid for longer than 398 days. */
const SELF_SIGNED_DAYS = 397;

function describe(cert: string, key: string, source: Certificate['source']): Certificate {
  const x = new X509Certificate(cert);
  return { cert, key, source, fingerprint256: x.fingerprint256, notAfter: x.validTo };
}

function readFiles(tls: TlsConfig): Certificate {
  const certFile = tls.certFile ?? '';
  const keyFile = tls.keyFile ?? '';
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --tls-cert (KOLOKOL_TLS_CERT): cannot read ${certFile}`,
      {
        cause,
      },
    );
  }
  try {
    key = readFileSync(keyFile, 'utf8');
  } catch (cause) {
    throw new ServerError('CONFIG', `invalid setting --tls-key (KOLOKOL_TLS_KEY): cannot read ${keyFile}`, {
      cause,
    });
  }
  try {
    // Throws on a PEM it cannot parse and on a key that does not belong to the certificate.
    createSecureContext({ cert, key });
    return describe(cert, key, 'files');
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --tls-cert (KOLOKOL_TLS_CERT): ${certFile} and ${keyFile} are not a PEM certificate and its key`,
      { cause },
    );
  }
}

/** Names the self-signed certificate covers: localhost, the loopback addresses, plus `extra`. */
function wantedNames(extra: readonly string[]): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', ...extra.map((n) => n.replace(/^\[|\]$/g, ''))])];
}

function covers(x: X509Certificate, name: string): boolean {
  return isIP(name) === 0 ? x.checkHost(name) !== undefined : x.checkIP(name) !== undefined;
}

async function selfSigned(dataDir: string, extraNames: readonly string[]): Promise<Certificate> {
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  const names = wantedNames(extraNames);
  try {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    const x = new X509Certificate(cert);
    if (Date.parse(x.validTo) - Date.now() > RENEW_BEFORE_MS && names.every((n) => covers(x, n))) {
      return describe(cert, key, 'self-signed');
    }
  } catch {
    // Missing or unreadable: make a new one below.
  }
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + SELF_SIGNED_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((n) => (isIP(n) === 0 ? { type: 2, value: n } : { type: 7, ip: n })),
      },
    ],
  });
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, pems.cert);
  } catch (cause) {
    throw new ServerError('CONFIG', `invalid setting --data (KOLOKOL_DATA_DIR): cannot write ${dir}`, {
      cause,
    });
  }
  return describe(pems.cert, pems.private, 'self-signed');
}

/** The configured certificate, or the kept self-signed one (made or renewed as needed). */
export async function loadCertificate(
  dataDir: string,
  tls: TlsConfig,
  extraNames: readonly string[],
): Promise<Certificate> {
  if (tls.certFile !== undefined || tls.keyFile !== undefined) {
    if (tls.certFile === undefined || tls.keyFile === undefined) {
      throw new ServerError('CONFIG', 'invalid setting --tls-cert (KOLOKOL_TLS_CERT): give --tls-key too');
    }
    return readFiles(tls);
  }
  return selfSigned(dataDir, extraNames);
}

/**
 * Calls `onChange` with the new certificate whenever the configured files change (checked every
 * `intervalMs`); a pair that does not load is logged through `onError` and the old one is kept.
 * Returns a stop function. Nothing to watch for a self-signed certificate.
 */
export function watchCertificate(
  tls: TlsConfig,
  intervalMs: number,
  onChange: (c: Certificate) => void,
  onError: (err: unknown) => void,
): () => void {
  if (tls.certFile === undefined || tls.keyFile === undefined) return () => {};
  const files = [tls.certFile, tls.keyFile];
  const stamp = () => files.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === last) return;
    try {
      onChange(readFiles(tls));
      last = now;
    } catch (err) {
      // Half-written renewal: try again next time.
      onError(err);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
