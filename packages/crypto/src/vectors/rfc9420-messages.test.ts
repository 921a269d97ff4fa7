import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMlsMessage, encodeMlsMessage } from 'ts-mls';
import type { Decoder } from 'ts-mls/codec/tlsDecoder.js';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import { decodeGroupSecrets, encodeGroupSecrets } from 'ts-mls/groupSecrets.js';
import {
  decodeAdd,
  decodeExternalInit,
  decodeGroupContextExtensions,
  decodePSK,
  decodeReinit,
  decodeRemove,
  decodeUpdate,
  encodeAdd,
  encodeExternalInit,
  encodeGroupContextExtensions,
  encodePSK,
  encodeReinit,
  encodeRemove,
  encodeUpdate,
} from 'ts-mls/proposal.js';
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { hex, loadVectors, toHex } from '../../test/vectors.ts';

type V = Record<string, string>;

/** Decodes `bytes` completely and re-encodes them; undefined when they do not decode. */
type RoundTrip = (bytes: Uint8Array) => { consumed: number; reencoded: Uint8Array } | undefined;
const pair =
  <T>(decode: Decoder<T>, encode: (v: T) => Uint8Array): RoundTrip =>
  (bytes) => {
    const r = decode(bytes, 0);
    return r && { consumed: r[1], reencoded: encode(r[0]) };
  };

/** Field -> codec: each value must decode completely and re-encode to the same bytes. */
const codecs: Record<string, RoundTrip> = {
  mls_welcome: pair(decodeMlsMessage, encodeMlsMessage),
  mls_group_info: pair(decodeMlsMessage, encodeMlsMessage),
  mls_key_package: pair(decodeMlsMessage, encodeMlsMessage),
  ratchet_tree: pair(decodeRatchetTree, encodeRatchetTree),
  group_secrets: pair(decodeGroupSecrets, encodeGroupSecrets),
  add_proposal: pair(decodeAdd, encodeAdd),
  update_proposal: pair(decodeUpdate, encodeUpdate),
  remove_proposal: pair(decodeRemove, encodeRemove),
  pre_shared_key_proposal: pair(decodePSK, encodePSK),
  re_init_proposal: pair(decodeReinit, encodeReinit),
  external_init_proposal: pair(decodeExternalInit, encodeExternalInit),
  group_context_extensions_proposal: pair(decodeGroupContextExtensions, encodeGroupContextExtensions),
  commit: pair(decodeCommit, encodeCommit),
  public_message_application: pair(decodeMlsMessage, encodeMlsMessage),
  public_message_proposal: pair(decodeMlsMessage, encodeMlsMessage),
  public_message_commit: pair(decodeMlsMessage, encodeMlsMessage),
  private_message: pair(decodeMlsMessage, encodeMlsMessage),
};

test('RFC 9420 messages.json: every structure of every case decodes and re-encodes byte for byte', (t) => {
  const cases = loadVectors<V>(t, 'messages.json');
  if (!cases) return;
  let checked = 0;
  for (const [i, c] of cases.entries()) {
    for (const [field, value] of Object.entries(c)) {
      const codec = codecs[field];
      assert.ok(codec, `unknown field ${field}`);
      const bytes = hex(value);
      const r = codec(bytes);
      assert.ok(r, `case ${i} ${field} does not decode`);
      assert.equal(r.consumed, bytes.length, `case ${i} ${field}: trailing bytes`);
      assert.equal(toHex(r.reencoded), value, `case ${i} ${field}: re-encoding differs`);
      checked++;
    }
  }
  t.diagnostic(`messages.json: ${cases.length} cases tested (${checked} structures)`);
});
