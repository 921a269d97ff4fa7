import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type MailboxItem, toB64 } from '@kolokol/protocol';
import fc from 'fast-check';
import { checkFranking, commit, frankEnvelope, reportedMessage } from './franking.ts';

const item = (cf: string): MailboxItem => ({
  id: 1,
  msgId: 'msg-00000001',
  groupId: 'group-000001',
  seq: 3,
  kind: 'application',
  epoch: 1,
  body: 'AA',
  sender: { userId: 'user-0000001', deviceId: 'device-00001' },
  sentAt: 1234,
  franking: { cf, tag: toB64(new Uint8Array(32).fill(1)) },
});

it('a franked envelope carries nf, and its commitment verifies on receipt', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      const f = frankEnvelope({ v: 1, type: 'text', text });
      const got = checkFranking(item(f.cf), f.plaintext);
      return got?.valid === true && got.sender === 'user-0000001' && got.at === 1234 && got.nf !== undefined;
    }),
  );
});

it('changed bytes, a changed commitment or a missing nf are flagged, and cannot be reported', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }), fc.nat(), (text, i) => {
      const f = frankEnvelope({ v: 1, type: 'text', text });
      const changed = Uint8Array.from(f.plaintext);
      const at = i % changed.length;
      changed[at] = (changed[at] ?? 0) ^ 0x20;
      const bad = checkFranking(item(f.cf), changed);
      const wrongCf = checkFranking(item(toB64(commit(new Uint8Array(32), f.plaintext))), f.plaintext);
      return (
        bad?.valid === false && wrongCf?.valid === false && typeof reportedMessage('m', bad) === 'string'
      );
    }),
  );
  const plain = new TextEncoder().encode('{"v":1,"type":"text","text":"no nf"}');
  const noNf = checkFranking(item(toB64(new Uint8Array(32))), plain);
  assert.equal(noNf?.valid, false);
  assert.equal(checkFranking({ ...item('x'), franking: undefined }, plain), undefined, 'unfranked');
  assert.match(String(reportedMessage('m', undefined)), /no franking/);
});
