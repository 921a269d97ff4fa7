import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Audience,
  admitCall,
  CONSENT_KINDS,
  type ConsentKind,
  ConsentRules,
  DEFAULT_RULES,
  type Decision,
  decide,
  decideFor,
  effectiveRules,
  iceFor,
  withAllowed,
} from './rules.ts';

const AUDIENCES: Audience[] = ['everybody', 'contacts', 'nobody'];
const PEER = 'peer_user_1';

/** The spec written out as a table, independently of the code: [who][contact ? 1 : 0]. */
const TABLE: Record<Audience, [stranger: Decision, contact: Decision]> = {
  everybody: ['allow', 'allow'],
  contacts: ['request', 'allow'],
  nobody: ['refuse', 'request'],
};

const arbRules = fc
  .record({
    who: fc.record({
      messages: fc.constantFrom(...AUDIENCES),
      calls: fc.constantFrom(...AUDIENCES),
      groups: fc.constantFrom(...AUDIENCES),
      p2p: fc.constantFrom(...AUDIENCES),
    }),
    allowed: fc.subarray([...CONSENT_KINDS]),
    denied: fc.subarray([...CONSENT_KINDS]),
    silence: fc.boolean(),
    strict: fc.boolean(),
  })
  .map((o) =>
    ConsentRules.parse({
      ...Object.fromEntries(
        CONSENT_KINDS.map((k) => [
          k,
          {
            who: o.who[k],
            allow: o.allowed.includes(k) ? ['other_1', PEER] : ['other_1'],
            deny: o.denied.includes(k) ? [PEER] : [],
          },
        ]),
      ),
      silenceUnknownCallers: o.silence,
      strict: o.strict,
    }),
  );

describe('consent rules', () => {
  it('decide: every audience × contact or stranger × on a list or not (exhaustive)', () => {
    for (const who of AUDIENCES)
      for (const contact of [false, true])
        for (const allow of [false, true])
          for (const deny of [false, true]) {
            const r = { who, allow: allow ? [PEER] : [], deny: deny ? [PEER] : [] };
            const expected: Decision = deny ? 'refuse' : allow ? 'allow' : TABLE[who][contact ? 1 : 0];
            assert.equal(decide(r, { userId: PEER, contact }), expected, JSON.stringify({ r, contact }));
          }
  });

  it('decideFor: the table for every kind under the rules in force; lists override', () => {
    fc.assert(
      fc.property(arbRules, fc.boolean(), fc.constantFrom(...CONSENT_KINDS), (rules, contact, kind) => {
        const eff = effectiveRules(rules)[kind];
        const d = decideFor(kind, rules, { userId: PEER, contact });
        if (eff.deny.includes(PEER)) return d === 'refuse';
        if (eff.allow.includes(PEER)) return d === 'allow';
        return d === TABLE[eff.who][contact ? 1 : 0];
      }),
      { numRuns: 2000 },
    );
  });

  it('strict mode never lets more in than the same rules without it', () => {
    const rank: Record<Decision, number> = { allow: 0, request: 1, refuse: 2 };
    fc.assert(
      fc.property(arbRules, fc.boolean(), fc.constantFrom(...CONSENT_KINDS), (rules, contact, kind) => {
        const rel = { userId: PEER, contact };
        const loose = decideFor(kind, { ...rules, strict: false }, rel);
        const strict = decideFor(kind, { ...rules, strict: true }, rel);
        return rank[strict] >= rank[loose];
      }),
      { numRuns: 2000 },
    );
  });

  it('strict mode: strangers never ring, never reach me peer-to-peer, never start a chat or add me unasked', () => {
    fc.assert(
      fc.property(arbRules, (rules) => {
        const strict = { ...rules, strict: true };
        const stranger = { userId: 'stranger_1', contact: false };
        return admitCall(strict, stranger) === 'silence' || admitCall(strict, stranger) === 'refuse'
          ? iceFor(strict, stranger) === 'relay' &&
              decideFor('messages', strict, stranger) !== 'allow' &&
              decideFor('groups', strict, stranger) !== 'allow'
          : false;
      }),
      { numRuns: 1000 },
    );
  });

  it('admitCall: silencing spares contacts and the always-allowed; refusal wins', () => {
    fc.assert(
      fc.property(arbRules, fc.boolean(), (rules, contact) => {
        const rel = { userId: PEER, contact };
        const a = admitCall(rules, rel);
        const d = decideFor('calls', rules, rel);
        const eff = effectiveRules(rules);
        if (d === 'refuse') return a === 'refuse';
        if (eff.silenceUnknownCallers && !contact && !eff.calls.allow.includes(PEER)) return a === 'silence';
        return a === (d === 'allow' ? 'ring' : 'request');
      }),
      { numRuns: 2000 },
    );
  });

  it('defaults: strangers message, call and add freely, but only through the relay', () => {
    const stranger = { userId: PEER, contact: false };
    const contact = { userId: PEER, contact: true };
    assert.equal(decideFor('messages', DEFAULT_RULES, stranger), 'allow');
    assert.equal(admitCall(DEFAULT_RULES, stranger), 'ring');
    assert.equal(decideFor('groups', DEFAULT_RULES, stranger), 'allow');
    assert.equal(iceFor(DEFAULT_RULES, stranger), 'relay');
    for (const k of CONSENT_KINDS) assert.equal(decideFor(k, DEFAULT_RULES, contact), 'allow');
    assert.equal(admitCall(DEFAULT_RULES, contact), 'ring');
    assert.equal(iceFor(DEFAULT_RULES, contact), 'all');
  });

  it('withAllowed puts a person on the always-allow list and off the never-allow list', () => {
    const kinds: ConsentKind[] = [...CONSENT_KINDS];
    for (const k of kinds) {
      const denied = { ...DEFAULT_RULES, [k]: { who: 'nobody', allow: [], deny: [PEER] } };
      const r = withAllowed(denied, k, PEER, 5);
      assert.deepEqual(r[k].allow, [PEER]);
      assert.deepEqual(r[k].deny, []);
      assert.equal(r.updatedAt, 5);
      assert.equal(decideFor(k, r, { userId: PEER, contact: false }), 'allow');
    }
  });
});
