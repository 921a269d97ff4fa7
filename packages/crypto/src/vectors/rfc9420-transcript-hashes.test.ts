import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAuthenticatedContent } from 'ts-mls/authenticatedContent.js';
import { verifyConfirmationTag } from 'ts-mls/framedContent.js';
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: number;
  confirmation_key: string;
  authenticated_content: string;
  interim_transcript_hash_before: string;
  confirmed_transcript_hash_after: string;
  interim_transcript_hash_after: string;
}

test('RFC 9420 transcript-hashes.json: confirmed and interim hashes, confirmation tag', async (t) => {
  const cases = loadVectors<V>(t, 'transcript-hashes.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const ac = decodeAuthenticatedContent(hex(c.authenticated_content), 0)?.[0];
    assert.ok(ac);
    const content = ac.content;
    const auth = ac.auth;
    if (content.contentType !== 'commit' || auth.contentType !== 'commit') assert.fail('not a commit');
    const confirmed = await createConfirmedHash(
      hex(c.interim_transcript_hash_before),
      { wireformat: ac.wireformat, content, signature: auth.signature },
      cs.hash,
    );
    assert.equal(toHex(confirmed), c.confirmed_transcript_hash_after);
    assert.ok(await verifyConfirmationTag(hex(c.confirmation_key), auth.confirmationTag, confirmed, cs.hash));
    assert.equal(
      toHex(await createInterimHash(confirmed, auth.confirmationTag, cs.hash)),
      c.interim_transcript_hash_after,
    );
  });
  report(t, 'transcript-hashes.json', r);
  assert.ok(r.tested >= 1);
});
