/** The settings of issue 5: trusted PROXY v2 sources and the fronts told to clients in GET /v1/info. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerInfo } from '@kolokol/protocol';
import { loadConfig } from '../src/index.ts';
import { testServer } from './helpers.ts';

describe('--proxy-protocol-from and --fronts', () => {
  it('parses both, and names the bad value', () => {
    const c = loadConfig(
      [
        '--proxy-protocol-from',
        '10.0.0.0/8, 192.0.2.1',
        '--fronts',
        'https://a.example,https://192.0.2.9:8443/',
      ],
      {},
    );
    assert.deepEqual(c.proxyProtocolFrom, ['10.0.0.0/8', '192.0.2.1']);
    assert.deepEqual(c.fronts, ['https://a.example', 'https://192.0.2.9:8443']);
    assert.throws(
      () => loadConfig(['--proxy-protocol-from', 'proxy.example'], {}),
      /--proxy-protocol-from .*"proxy.example"/,
    );
    assert.throws(
      () => loadConfig(['--proxy-protocol-from', '10.0.0.1', '--tls', 'off'], {}),
      /needs --tls on/,
    );
    assert.throws(() => loadConfig(['--fronts', 'ftp://x.example'], {}), /--fronts/);
    assert.throws(() => loadConfig(['--fronts', 'https://x.example/path'], {}), /--fronts/);
  });

  it('GET /v1/info lists the fronts, and leaves the field out when there are none', async () => {
    const withFronts = await testServer({ fronts: ['https://a.example', 'https://b.example'] });
    const without = await testServer();
    try {
      const a = ServerInfo.parse((await withFronts.api.req('GET', '/v1/info')).body);
      assert.deepEqual(a.fronts, ['https://a.example', 'https://b.example']);
      const b = ServerInfo.parse((await without.api.req('GET', '/v1/info')).body);
      assert.equal(b.fronts, undefined);
    } finally {
      await withFronts.stop();
      await without.stop();
    }
  });

  it('lets the pages of its fronts, and no other origin, call the API across origins', async () => {
    const srv = await testServer({ fronts: ['https://a.example', 'https://b.example'] });
    try {
      const preflight = (origin: string) =>
        fetch(`${srv.url}/v1/turn`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'GET',
            'access-control-request-headers': 'authorization',
          },
        });
      const ok = await preflight('https://b.example');
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://b.example');
      assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
      const other = await preflight('https://evil.example');
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      const info = await fetch(`${srv.url}/v1/info`, { headers: { origin: 'https://a.example' } });
      assert.equal(info.headers.get('access-control-allow-origin'), 'https://a.example');
      assert.equal(info.headers.get('access-control-allow-credentials'), null);
    } finally {
      await srv.stop();
    }
  });
});
