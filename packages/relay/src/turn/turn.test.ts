import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { longTermKey, parseRestUsername, restPassword, turnCredentials } from './credentials.ts';
import { NonceMint } from './nonce.ts';
import { PeerPolicy } from './policy.ts';
import { TokenBucket } from './token-bucket.ts';

describe('REST credentials (coturn use-auth-secret)', () => {
  it('username = expiry:id, password = base64(HMAC-SHA1(secret, username))', () => {
    const c = turnCredentials('s3cret', 'alice', 3600, 1_700_000_000_000);
    assert.equal(c.username, '1700003600:alice');
    assert.equal(c.password, createHmac('sha1', 's3cret').update('1700003600:alice').digest('base64'));
    assert.equal(c.ttl, 3600);
    assert.equal(restPassword('s3cret', c.username), c.password);
  });

  it('parses usernames the way coturn does', () => {
    assert.deepEqual(parseRestUsername('1700003600:alice'), { expiry: 1700003600, id: 'alice' });
    assert.deepEqual(parseRestUsername('1700003600:a:b'), { expiry: 1700003600, id: 'a:b' });
    assert.deepEqual(parseRestUsername('1700003600'), { expiry: 1700003600, id: '1700003600' });
    assert.equal(parseRestUsername('alice:1700003600'), undefined);
    assert.equal(parseRestUsername(''), undefined);
  });

  it('derives the long-term key', () => {
    const expected = createHash('md5').update('u:r:p').digest();
    assert.deepEqual(longTermKey('u', 'r', 'p'), expected);
  });
});

describe('nonces', () => {
  it('are bound to the client address and expire', () => {
    const mint = new NonceMint(600_000);
    const nonce = mint.issue('192.0.2.1', 1_000_000);
    assert.equal(mint.check(nonce, '192.0.2.1', 1_000_000), true);
    assert.equal(mint.check(nonce, '192.0.2.2', 1_000_000), false);
    assert.equal(mint.check(nonce, '192.0.2.1', 1_000_000 + 601_000), false);
    assert.equal(new NonceMint(600_000).check(nonce, '192.0.2.1', 1_000_000), false);
    assert.equal(mint.check('garbage', '192.0.2.1', 1_000_000), false);
  });
});

describe('peer policy', () => {
  it('refuses special-purpose ranges by default', () => {
    const policy = new PeerPolicy();
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fc00::1',
      'fd12::1',
      'fe80::1',
      'ff02::1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
      '2002:a00:1::1',
    ]) {
      assert.equal(policy.permits(a), false, a);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700::1111', '2a00:1450::1']) {
      assert.equal(policy.permits(a), true, a);
    }
    assert.equal(policy.permits('not an ip'), false);
  });

  it('allows loopback and listed CIDRs when configured, and refuses extra ones', () => {
    const policy = new PeerPolicy({
      allowLoopbackPeers: true,
      allowedPeerCidrs: ['10.8.0.0/16', 'fd00::5'],
      deniedPeerCidrs: ['203.0.112.0/24'],
    });
    assert.equal(policy.permits('127.0.0.1'), true);
    assert.equal(policy.permits('::1'), true);
    assert.equal(policy.permits('10.8.3.4'), true);
    assert.equal(policy.permits('10.9.0.1'), false);
    assert.equal(policy.permits('fd00::5'), true);
    assert.equal(policy.permits('fd00::6'), false);
    assert.equal(policy.permits('203.0.112.9'), false);
    assert.throws(() => new PeerPolicy({ allowedPeerCidrs: ['10.0.0.0/33'] }), /not a CIDR/);
    assert.throws(() => new PeerPolicy({ allowedPeerCidrs: ['nope/8'] }), /not a CIDR/);
  });
});

describe('token bucket', () => {
  it('allows a burst, then the rate', () => {
    const bucket = new TokenBucket(1000, 1000, 0);
    assert.equal(bucket.take(600, 0), true);
    assert.equal(bucket.take(600, 0), false);
    assert.equal(bucket.take(400, 0), true);
    assert.equal(bucket.take(100, 50), false); // 50 ms refill 50 bytes
    assert.equal(bucket.take(100, 100), true);
    assert.equal(bucket.take(1000, 10_000), true); // capped at burst
    assert.equal(bucket.take(1, 10_000), false);
  });
});
