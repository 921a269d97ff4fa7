/**
 * RFC 9605 test vectors (Appendix C) from KOLOKOL_SFRAME_VECTORS, default
 * <repo>/../shared/vectors/sframe: test-vectors.json (header, aes_ctr_hmac, aes_256_ctr_hmac,
 * sframe), test-vectors-aes256.json (sframe_aes_256_ctr_hmac, the draft suites 6..8), and the
 * RFC's own text form in header.md and sframe.md, which must agree with the JSON.
 *
 * KID and CTR go up to 2^64-1, past what a JSON number survives, so the JSON is parsed with the
 * reviver's source text (Node 21+) and those fields become bigints.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { deriveKeySalt, FrameKey, sframeLabel } from './aead.ts';
import { SFrameContext } from './context.ts';
import { decodeHeader, encodeHeader } from './header.ts';
import { type SFrameSuiteId, sframeSuite } from './suites.ts';

const DIR =
  process.env.KOLOKOL_SFRAME_VECTORS ??
  resolve(import.meta.dirname, '..', '..', '..', '..', '..', 'shared', 'vectors', 'sframe');

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function read(t: TestContext, file: string): string | undefined {
  const path = resolve(DIR, file);
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const msg = `SFrame vectors not found at ${path} (set KOLOKOL_SFRAME_VECTORS)`;
  console.warn(`SKIP: ${msg}`);
  t.skip(msg);
  return undefined;
}

/** JSON with integer fields as bigint, read from the source text so 2^64-1 stays exact. */
function parseJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && Number.isInteger(value) && context?.source !== undefined
      ? BigInt(context.source)
      : value,
  );
}

interface HeaderCase {
  kid: bigint;
  ctr: bigint;
  encoded: string;
}
interface AeadCase {
  cipher_suite: bigint;
  key: string;
  enc_key: string;
  auth_key: string;
  nonce: string;
  aad: string;
  pt: string;
  ct: string;
}
interface SFrameCase {
  cipher_suite: bigint;
  kid: bigint;
  ctr: bigint;
  base_key: string;
  sframe_key_label: string;
  sframe_salt_label: string;
  sframe_secret: string;
  sframe_key: string;
  sframe_salt: string;
  metadata: string;
  nonce: string;
  aad: string;
  pt: string;
  ct: string;
}

function list<T>(doc: unknown, field: string): T[] {
  const v = (doc as Record<string, unknown>)[field];
  assert.ok(Array.isArray(v) && v.length > 0, `vector field ${field} missing or empty`);
  return v as T[];
}

const suiteOf = (n: bigint) => {
  const s = sframeSuite(Number(n));
  assert.ok(s, `suite ${n} not implemented`);
  return s;
};

/** The RFC's "~~~ test-vectors" blocks: `name: hex` lines, values continued on indented lines. */
function parseMd(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> | undefined;
  let last = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('~~~ test-vectors')) cur = {};
    else if (line.startsWith('~~~')) {
      if (cur) out.push(cur);
      cur = undefined;
    } else if (cur) {
      const m = /^(\w+):\s*(\S+)\s*$/.exec(line);
      if (m?.[1] && m[2] !== undefined) {
        last = m[1];
        cur[last] = m[2].replace(/^0x/, '');
      } else if (line.trim() !== '') cur[last] = (cur[last] ?? '') + line.trim();
    }
  }
  return out;
}

test('RFC 9605 C.1 header vectors: encode and decode every case (JSON and header.md)', (t) => {
  const json = read(t, 'test-vectors.json');
  const md = read(t, 'header.md');
  if (json === undefined || md === undefined) return;
  const cases = list<HeaderCase>(parseJson(json), 'header');
  const mdCases = parseMd(md);
  assert.equal(mdCases.length, cases.length, 'header.md and the JSON list different numbers of cases');
  for (const [i, c] of cases.entries()) {
    assert.equal(toHex(encodeHeader(c.kid, c.ctr)), c.encoded, `encode kid=${c.kid} ctr=${c.ctr}`);
    const d = decodeHeader(hex(c.encoded));
    assert.ok(d.ok, `decode ${c.encoded}`);
    assert.deepEqual(d.value, { kid: c.kid, ctr: c.ctr, length: c.encoded.length / 2 });
    // Trailing ciphertext must not change what the header says.
    const withBody = decodeHeader(hex(`${c.encoded}deadbeef`));
    assert.ok(withBody.ok && withBody.value.length === c.encoded.length / 2);
    const m = mdCases[i];
    assert.deepEqual(
      m && { kid: BigInt(`0x${m.kid}`), ctr: BigInt(`0x${m.ctr}`), header: m.header },
      { kid: c.kid, ctr: c.ctr, header: c.encoded },
      `header.md case ${i}`,
    );
  }
  t.diagnostic(`${cases.length} header cases`);
});

function checkAead(c: AeadCase): void {
  const suite = suiteOf(c.cipher_suite);
  assert.equal(c.key, c.enc_key + c.auth_key, 'key = enc_key || auth_key');
  assert.equal(c.enc_key.length / 2, suite.nka);
  assert.equal(c.auth_key.length / 2, suite.nh);
  // The raw AEAD through FrameKey: salt = the vector's nonce and CTR 0 give nonce = salt, and
  // the vector's AAD goes where the SFrame header would (metadata empty).
  const aad = hex(c.aad);
  const pt = hex(c.pt);
  const key = new FrameKey(suite, hex(c.key), hex(c.nonce));
  assert.equal(toHex(key.nonceFor(0n)), c.nonce);
  const out = new Uint8Array(aad.length + pt.length + suite.nt);
  out.set(aad, 0);
  key.sealInto(out, aad.length, 0n, new Uint8Array(0), pt);
  assert.equal(toHex(out.subarray(aad.length)), c.ct, `suite ${c.cipher_suite} encrypt`);
  const opened = key.open(aad, 0n, new Uint8Array(0), hex(c.ct));
  assert.ok(opened, `suite ${c.cipher_suite} decrypt`);
  assert.equal(toHex(opened), c.pt);
  const bad = hex(c.ct);
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
  assert.equal(key.open(aad, 0n, new Uint8Array(0), bad), undefined, 'a flipped tag bit must fail');
}

test('RFC 9605 C.2 AES-CTR-HMAC vectors: suites 1-3, and the AES-256 ones (6-8)', (t) => {
  const json = read(t, 'test-vectors.json');
  if (json === undefined) return;
  const doc = parseJson(json);
  const c128 = list<AeadCase>(doc, 'aes_ctr_hmac');
  const c256 = list<AeadCase>(doc, 'aes_256_ctr_hmac');
  for (const c of [...c128, ...c256]) checkAead(c);
  assert.deepEqual(
    [...c128, ...c256].map((c) => Number(c.cipher_suite)),
    [1, 2, 3, 6, 7, 8],
  );
  t.diagnostic(`${c128.length} AES-128 + ${c256.length} AES-256 CTR-HMAC cases`);
});

function checkSFrame(c: SFrameCase): void {
  const suite = suiteOf(c.cipher_suite);
  const id = suite.id;
  const at = `suite ${id}`;
  const baseKey = hex(c.base_key);
  assert.equal(toHex(sframeLabel('key', c.kid, id)), c.sframe_key_label, `${at} key label`);
  assert.equal(toHex(sframeLabel('salt', c.kid, id)), c.sframe_salt_label, `${at} salt label`);
  const d = deriveKeySalt(suite, c.kid, baseKey);
  assert.equal(toHex(d.secret), c.sframe_secret, `${at} sframe_secret`);
  assert.equal(toHex(d.key), c.sframe_key, `${at} sframe_key`);
  assert.equal(toHex(d.salt), c.sframe_salt, `${at} sframe_salt`);
  const key = FrameKey.derive(suite, c.kid, baseKey);
  assert.equal(toHex(key.nonceFor(c.ctr)), c.nonce, `${at} nonce`);
  const header = encodeHeader(c.kid, c.ctr);
  const metadata = hex(c.metadata);
  assert.equal(toHex(header) + c.metadata, c.aad, `${at} aad = header || metadata`);

  const pt = hex(c.pt);
  const out = new Uint8Array(header.length + pt.length + suite.nt);
  out.set(header, 0);
  key.sealInto(out, header.length, c.ctr, metadata, pt);
  assert.equal(toHex(out), c.ct, `${at} encrypt`);

  // Decrypt through the public context, as a receiver would.
  const ctx = new SFrameContext({ suite: id as SFrameSuiteId, allowDraftSuites: true });
  ctx.addReceiveKey(c.kid, baseKey);
  const r = ctx.decrypt(metadata, hex(c.ct));
  assert.ok(r.ok, `${at} decrypt: ${r.ok ? '' : r.error.message}`);
  assert.deepEqual(
    { kid: r.value.kid, ctr: r.value.ctr, pt: toHex(r.value.plaintext) },
    {
      kid: c.kid,
      ctr: c.ctr,
      pt: c.pt,
    },
  );
  const again = ctx.decrypt(metadata, hex(c.ct));
  assert.equal(again.ok ? 'ok' : again.error.code, 'REPLAY', `${at} replay of the vector`);
  const other = new SFrameContext({ suite: id as SFrameSuiteId, allowDraftSuites: true });
  other.addReceiveKey(c.kid, baseKey);
  const wrongMeta = other.decrypt(hex(`${c.metadata}00`), hex(c.ct));
  assert.equal(wrongMeta.ok ? 'ok' : wrongMeta.error.code, 'DECRYPT_FAILED', `${at} other metadata`);
}

test('RFC 9605 C.3 SFrame encryption vectors: every suite (JSON and sframe.md)', (t) => {
  const json = read(t, 'test-vectors.json');
  const md = read(t, 'sframe.md');
  if (json === undefined || md === undefined) return;
  const cases = list<SFrameCase>(parseJson(json), 'sframe');
  for (const c of cases) checkSFrame(c);
  assert.deepEqual(
    cases.map((c) => Number(c.cipher_suite)),
    [1, 2, 3, 4, 5],
  );
  const mdCases = parseMd(md);
  assert.equal(mdCases.length, cases.length);
  for (const [i, m] of mdCases.entries()) {
    const c = cases[i];
    assert.ok(c);
    for (const f of [
      'base_key',
      'sframe_key_label',
      'sframe_salt_label',
      'sframe_secret',
      'sframe_key',
    ] as const)
      assert.equal(m[f], c[f], `sframe.md case ${i} ${f}`);
    for (const f of ['sframe_salt', 'metadata', 'nonce', 'aad', 'pt', 'ct'] as const)
      assert.equal(m[f], c[f], `sframe.md case ${i} ${f}`);
    assert.equal(BigInt(`0x${m.cipher_suite}`), c.cipher_suite);
    assert.equal(BigInt(`0x${m.kid}`), c.kid);
    assert.equal(BigInt(`0x${m.ctr}`), c.ctr);
  }
  t.diagnostic(`${cases.length} SFrame cases, ${mdCases.length} in sframe.md`);
});

test('SFrame vectors for the draft AES-256 CTR-HMAC suites (test-vectors-aes256.json)', (t) => {
  const json = read(t, 'test-vectors-aes256.json');
  if (json === undefined) return;
  const cases = list<SFrameCase>(parseJson(json), 'sframe_aes_256_ctr_hmac');
  for (const c of cases) checkSFrame(c);
  assert.deepEqual(
    cases.map((c) => Number(c.cipher_suite)),
    [6, 7, 8],
  );
  t.diagnostic(`${cases.length} SFrame cases`);
});
