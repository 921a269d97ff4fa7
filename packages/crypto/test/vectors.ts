/** Loading the RFC 9420 interop vectors (mlswg/mls-implementations) for src/vectors/*.test.ts. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { type CiphersuiteImpl, getCiphersuiteImpl } from 'ts-mls';
import { type CiphersuiteId, getCiphersuiteFromId } from 'ts-mls/crypto/ciphersuite.js';

/** KOLOKOL_MLS_VECTORS, or <repo root>/../shared/vectors/mls (repo root = ../../.. from here). */
export const VECTOR_DIR =
  process.env.KOLOKOL_MLS_VECTORS ??
  resolve(import.meta.dirname, '..', '..', '..', '..', 'shared', 'vectors', 'mls');

/** The parsed file, or undefined after a loud skip when the folder or file is missing. */
export function loadVectors<T>(t: TestContext, file: string): T[] | undefined {
  const path = resolve(VECTOR_DIR, file);
  if (!existsSync(path)) {
    const msg = `RFC 9420 vectors not found at ${path} (set KOLOKOL_MLS_VECTORS)`;
    console.warn(`SKIP: ${msg}`);
    t.skip(msg);
    return undefined;
  }
  return JSON.parse(readFileSync(path, 'utf8')) as T[];
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const impls = new Map<number, Promise<CiphersuiteImpl | undefined>>();
/**
 * The ts-mls implementation of a suite, or undefined when it needs an optional peer dependency we
 * do not install (X448/Ed448 need @hpke/dhkem-x448, ChaCha20 needs @hpke/chacha20poly1305).
 */
export function suiteImpl(id: number | string): Promise<CiphersuiteImpl | undefined> {
  const n = Number(id);
  let p = impls.get(n);
  if (p === undefined) {
    p = (async () => {
      try {
        const cs = await getCiphersuiteImpl(getCiphersuiteFromId(n as CiphersuiteId));
        // Some providers load lazily: exercise KEM, AEAD and signatures once.
        const kp = await cs.hpke.generateKeyPair();
        await cs.hpke.exportPrivateKey(kp.privateKey);
        const sk = await cs.signature.keygen();
        await cs.signature.sign(sk.signKey, new Uint8Array(1));
        await cs.hpke.encryptAead(
          new Uint8Array(cs.hpke.keyLength),
          new Uint8Array(cs.hpke.nonceLength),
          new Uint8Array(),
          new Uint8Array(1),
        );
        return cs;
      } catch {
        return undefined;
      }
    })();
    impls.set(n, p);
  }
  return p;
}

/** Runs `check` on every case whose suite we have; returns [tested, skipped]. */
export async function forEachSuiteCase<T extends { cipher_suite: number | string }>(
  cases: T[],
  check: (c: T, cs: CiphersuiteImpl, index: number) => Promise<void>,
): Promise<{ tested: number; skipped: number; skippedSuites: number[] }> {
  let tested = 0;
  const skippedSuites = new Set<number>();
  let skipped = 0;
  for (const [i, c] of cases.entries()) {
    const cs = await suiteImpl(c.cipher_suite);
    if (cs === undefined) {
      skipped++;
      skippedSuites.add(Number(c.cipher_suite));
      continue;
    }
    await check(c, cs, i);
    tested++;
  }
  return { tested, skipped, skippedSuites: [...skippedSuites].sort() };
}

/** Reports the count in the test output so coverage is visible in CI logs. */
export function report(
  t: TestContext,
  file: string,
  r: { tested: number; skipped: number; skippedSuites: number[] },
): void {
  t.diagnostic(
    `${file}: ${r.tested} cases tested, ${r.skipped} skipped` +
      (r.skippedSuites.length > 0
        ? ` (cipher suites ${r.skippedSuites.join(', ')} need optional ts-mls peer deps)`
        : ''),
  );
}
