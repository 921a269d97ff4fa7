/**
 * The shared TLS port and the embedded TURN relay: HTTPS, a WebSocket and TURN over TLS on the one
 * port with the self-signed certificate, ALPN, GET /v1/turn credentials that the relay accepts
 * (and a tampered one it refuses) over UDP, TCP and TLS, relay metrics, and the settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { TurnResponse } from '@kolokol/protocol';
import WebSocket from 'ws';
import { TurnTestClient } from '../../relay/test/client.ts';
import { loadConfig, ServerError, startServer } from '../src/index.ts';
import { errorCode, field, registerUser, type TestServer, testServer } from './helpers.ts';
import { TlsApi } from './tls-helpers.ts';

function tlsOpen(port: number, ca: string, alpn?: string[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

const portOf = (url: string) => Number(/:(\d+)\?/.exec(url)?.[1]);

describe('the shared TLS port', () => {
  let s: TestServer;
  let ca: string;
  let api: TlsApi;
  let port: number;

  before(async () => {
    s = await testServer({ tls: {}, turn: { allowLoopbackPeers: true } });
    ca = readFileSync(join(s.dataDir, 'tls', 'self-signed.crt'), 'utf8');
    api = new TlsApi(s.url, ca);
    port = s.port;
  });
  after(async () => {
    await s.stop();
  });

  it('prints an https URL and answers HTTPS with a certificate valid for 127.0.0.1 and localhost', async () => {
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await api.req('GET', '/healthz');
    assert.equal(health.status, 200);
    const byName = new TlsApi(`https://localhost:${port}`, ca);
    assert.equal((await byName.req('GET', '/healthz')).status, 200);
  });

  it('offers only http/1.1 in ALPN', async () => {
    const both = await tlsOpen(port, ca, ['h2', 'http/1.1']);
    assert.equal(both.alpnProtocol, 'http/1.1');
    both.destroy();
    // A client that wants h2 only never gets it (Node answers no_application_protocol).
    const h2 = await tlsOpen(port, ca, ['h2']).then(
      (socket) => {
        const p = socket.alpnProtocol;
        socket.destroy();
        return p;
      },
      () => 'refused',
    );
    assert.notEqual(h2, 'h2');
  });

  it('carries the WebSocket over wss', async () => {
    const u = await registerUser(api);
    const ws = new WebSocket(`${s.url.replace(/^https/, 'wss')}/v1/ws`, { ca });
    const frames: unknown[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ t: 'hello', v: 1, token: u.token }));
    const deadline = Date.now() + 5000;
    while (!frames.some((f) => field(f, 't') === 'ready') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(
      frames.some((f) => field(f, 't') === 'ready'),
      JSON.stringify(frames),
    );
    ws.close();
  });

  it('hands out TURN credentials that the relay accepts over UDP, TCP and TLS on the app port', async () => {
    const u = await registerUser(api);
    assert.equal(errorCode((await api.req('GET', '/v1/turn')).body), 'UNAUTHORIZED');
    const res = await api.req('GET', '/v1/turn', undefined, u.token);
    assert.equal(res.status, 200);
    const turn = TurnResponse.parse(res.body);
    const urls = turn.iceServers.map((x) => x.urls[0] ?? '');
    assert.equal(urls.length, 3);
    assert.match(urls[0] ?? '', /^turn:127\.0\.0\.1:\d+\?transport=udp$/);
    assert.match(urls[1] ?? '', /^turn:127\.0\.0\.1:\d+\?transport=tcp$/);
    assert.equal(urls[2], `turns:127.0.0.1:${port}?transport=tcp`);
    assert.equal(turn.ttl, 43200);
    const first = turn.iceServers[0];
    assert.ok(first !== undefined);
    const [expiry, id] = first.username.split(':');
    assert.equal(id, u.device.deviceId);
    assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 43200)) < 60);
    const creds = { username: first.username, password: first.credential };

    const clients = [
      await TurnTestClient.udp(portOf(urls[0] ?? '')),
      await TurnTestClient.tcp(portOf(urls[1] ?? '')),
      TurnTestClient.overStream(await tlsOpen(port, ca)),
    ];
    try {
      for (const c of clients) {
        const allocation = await c.allocate(creds);
        assert.equal(allocation.code, 0);
        assert.equal(allocation.relayed?.address, '127.0.0.1');
      }
      // A tampered credential gets 401, over the TLS port as over UDP.
      for (const make of [
        () => TurnTestClient.udp(portOf(urls[0] ?? '')),
        async () => TurnTestClient.overStream(await tlsOpen(port, ca)),
      ]) {
        const c = await make();
        clients.push(c);
        // Change the first character: changing the last one before the padding left the password
        // as it was one time in sixteen (when it already ended in 'A=').
        const lead = creds.password[0] === 'A' ? 'B' : 'A';
        const tampered = { ...creds, password: `${lead}${creds.password.slice(1)}` };
        assert.equal((await c.allocate(tampered)).code, 401);
        const otherUser = { ...creds, username: creds.username.replace(/:.*/, ':someone-else') };
        assert.equal((await c.allocate(otherUser)).code, 401);
      }
    } finally {
      for (const c of clients) c.close();
    }

    // The HTTP side of the port still works after TURN streams came and went.
    assert.equal((await api.req('GET', '/healthz')).status, 200);

    const metrics = await api.req('GET', '/metrics');
    const text = String(metrics.body);
    assert.match(text, /^kolokol_turn_allocations_created_total 3$/m);
    assert.match(text, /^kolokol_turn_allocations \d+$/m);
    assert.match(text, /^kolokol_turn_bytes_total\{direction="in"\} [1-9]\d*$/m);
    assert.match(text, /^kolokol_turn_packets_total\{direction="out"\} [1-9]\d*$/m);
    assert.match(text, /^kolokol_turn_refused_total\{reason="badCredentials"\} [1-9]\d*$/m);
    assert.match(text, /^kolokol_turn_refused_total\{reason="unauthenticated"\} [1-9]\d*$/m);
    assert.match(text, /^kolokol_turn_dropped_total\{reason="malformed"\} \d+$/m);
  });

  it('names the TURN host after --public-host, else the Host the client used', async () => {
    const u = await registerUser(api);
    const viaName = await api.req('GET', '/v1/turn', undefined, u.token, { host: 'chat.example.org' });
    const urls = TurnResponse.parse(viaName.body).iceServers.map((x) => x.urls[0]);
    assert.match(urls[0] ?? '', /^turn:chat\.example\.org:\d+\?transport=udp$/);
    assert.equal(urls[2], 'turns:chat.example.org:443?transport=tcp');
    const withPort = await api.req('GET', '/v1/turn', undefined, u.token, { host: '[2001:db8::7]:8443' });
    assert.equal(
      TurnResponse.parse(withPort.body).iceServers[2]?.urls[0],
      'turns:[2001:db8::7]:8443?transport=tcp',
    );
  });

  it('serves plain HTTP, the plain WebSocket and plain TURN over TCP on the same port (self-signed)', async () => {
    assert.equal(s.plainUrl, `http://127.0.0.1:${port}`);
    const plain = await fetch(`${s.plainUrl}/healthz`);
    assert.equal(plain.status, 200);
    const u = await registerUser(api);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`);
    const ready = new Promise<void>((resolve, reject) => {
      ws.on('message', (d) => {
        if (field(JSON.parse(String(d)), 't') === 'ready') resolve();
      });
      ws.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ t: 'hello', v: 1, token: u.token }));
    await ready;
    ws.close();
    const turn = TurnResponse.parse((await api.req('GET', '/v1/turn', undefined, u.token)).body);
    const first = turn.iceServers[0];
    assert.ok(first !== undefined);
    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => socket.once('connect', resolve));
    const c = TurnTestClient.overStream(socket);
    try {
      const allocation = await c.allocate({ username: first.username, password: first.credential });
      assert.equal(allocation.code, 0);
    } finally {
      c.close();
    }
  });

  it('closes a client whose TLS is garbage, and stays up', async () => {
    const { connect } = await import('node:net');
    const garbage = connect({ host: '127.0.0.1', port });
    garbage.resume();
    // A handshake record header with nonsense after it.
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8]));
    await new Promise((resolve) => garbage.on('close', resolve));
    assert.equal((await api.req('GET', '/healthz')).status, 200);
  });
});

describe('TLS and TURN settings', () => {
  it('closes a client that stalls in the TLS handshake or says nothing', async () => {
    const s = await testServer({
      tls: {},
      turn: false,
      tuning: { tlsHandshakeTimeoutMs: 300, connectionTimeoutMs: 300 },
    });
    try {
      const { connect } = await import('node:net');
      const started = Date.now();
      const stalled = connect({ host: '127.0.0.1', port: s.port });
      stalled.resume();
      // A ClientHello record that promises 512 bytes and brings 6.
      stalled.write(Buffer.from([0x16, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3]));
      const silent = connect({ host: '127.0.0.1', port: s.port });
      silent.resume();
      await Promise.all([stalled, silent].map((c) => new Promise((resolve) => c.on('close', resolve))));
      assert.ok(Date.now() - started < 5000);
      assert.equal((await fetch(`${s.plainUrl}/healthz`)).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('redirects plain HTTP to https when the certificate is a configured one', async () => {
    const first = await testServer({ tls: {}, turn: false });
    const certFile = join(first.dataDir, 'tls', 'self-signed.crt');
    const keyFile = join(first.dataDir, 'tls', 'self-signed.key');
    const s = await testServer({ tls: { certFile, keyFile }, turn: false });
    try {
      assert.equal(s.plainUrl, undefined);
      const res = await fetch(`http://127.0.0.1:${s.port}/healthz?x=1`, { redirect: 'manual' });
      assert.equal(res.status, 308);
      assert.equal(res.headers.get('location'), `https://127.0.0.1:${s.port}/healthz?x=1`);
      const ca = readFileSync(certFile, 'utf8');
      assert.equal((await new TlsApi(s.url, ca).req('GET', '/healthz')).status, 200);
    } finally {
      await s.stop();
      await first.stop();
    }
  });

  it('serves a configured certificate and uses --public-host in TURN URLs', async () => {
    const first = await testServer({ tls: {}, turn: false });
    const certFile = join(first.dataDir, 'tls', 'self-signed.crt');
    const keyFile = join(first.dataDir, 'tls', 'self-signed.key');
    const ca = readFileSync(certFile, 'utf8');
    const s = await testServer({
      tls: { certFile, keyFile },
      publicHost: 'turn.example.org:8443',
      turn: { udpPort: 0, tcpPort: false },
    });
    try {
      const api = new TlsApi(s.url, ca);
      assert.equal((await api.req('GET', '/healthz')).status, 200);
      const u = await registerUser(api);
      const urls = TurnResponse.parse(
        (await api.req('GET', '/v1/turn', undefined, u.token)).body,
      ).iceServers.map((x) => x.urls[0]);
      assert.equal(urls.length, 2);
      assert.match(urls[0] ?? '', /^turn:turn\.example\.org:\d+\?transport=udp$/);
      assert.equal(urls[1], 'turns:turn.example.org:8443?transport=tcp');
      // Without a relay the route says so.
      const plain = new TlsApi(first.url, ca);
      const v = await registerUser(plain);
      assert.equal(errorCode((await plain.req('GET', '/v1/turn', undefined, v.token)).body), 'NOT_FOUND');
    } finally {
      await s.stop();
      await first.stop();
    }
  });

  it('keeps plain HTTP for startServer by default, with the relay on random ports and no turns: URL', async () => {
    const s = await testServer();
    try {
      assert.match(s.url, /^http:\/\//);
      const u = await registerUser(s.api);
      const body = TurnResponse.parse((await s.api.req('GET', '/v1/turn', undefined, u.token)).body);
      const urls = body.iceServers.map((x) => x.urls[0] ?? '');
      assert.deepEqual(
        urls.map((x) => x.replace(/:\d+\?/, ':P?')),
        ['turn:127.0.0.1:P?transport=udp', 'turn:127.0.0.1:P?transport=tcp'],
      );
      assert.ok(urls.every((x) => portOf(x) > 0 && portOf(x) !== 3478));
    } finally {
      await s.stop();
    }
  });

  it('reads the command line: TLS (self-signed) and TURN by default, files, ports and errors', () => {
    const d = loadConfig([], {});
    assert.deepEqual(d.tls, {});
    assert.deepEqual(loadConfig(['--tls', 'on'], {}).tls, {});
    assert.deepEqual(d.turn, { udpPort: 3478, tcpPort: 3478 });
    assert.equal(d.publicHost, undefined);
    const off = loadConfig(['--tls', 'off', '--turn', 'off'], {});
    assert.equal(off.tls, false);
    assert.equal(off.turn, false);
    const files = loadConfig(
      ['--tls-cert', '/c.pem', '--tls-key=/k.pem', '--public-host', 'chat.example.org'],
      {
        KOLOKOL_TURN_UDP_PORT: '0',
        KOLOKOL_TURN_TCP_PORT: 'off',
        KOLOKOL_TURN_SECRET: 'a-long-enough-secret',
      },
    );
    assert.deepEqual(files.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
    assert.equal(files.publicHost, 'chat.example.org');
    assert.deepEqual(files.turn, { udpPort: 0, tcpPort: false, secret: 'a-long-enough-secret' });
    const more = loadConfig(['--turn-relay-address', '203.0.113.7', '--turn-relay-ports', '49152-65535'], {});
    assert.deepEqual(more.turn, {
      udpPort: 3478,
      tcpPort: 3478,
      relayAddress: '203.0.113.7',
      relayPortRange: { min: 49152, max: 65535 },
    });
    const error = (argv: string[]) => {
      try {
        loadConfig(argv, {});
      } catch (err) {
        assert.ok(err instanceof ServerError);
        return err.message;
      }
      assert.fail(`expected a config error for ${argv.join(' ')}`);
    };
    assert.match(error(['--tls', 'maybe']), /--tls \(KOLOKOL_TLS\): must be on or off/);
    assert.match(error(['--tls-cert', '/c.pem']), /--tls-key \(KOLOKOL_TLS_KEY\)/);
    assert.match(error(['--tls', 'off', '--tls-cert', '/c', '--tls-key', '/k']), /--tls-cert/);
    assert.match(error(['--public-host', 'https://x/']), /--public-host \(KOLOKOL_PUBLIC_HOST\)/);
    assert.match(error(['--turn-udp-port', '70000']), /--turn-udp-port/);
    assert.match(error(['--turn-relay-address', 'example.org']), /--turn-relay-address/);
    assert.match(error(['--turn-relay-ports', '9-3']), /--turn-relay-ports/);
    assert.match(error(['--turn-secret', 'short']), /--turn-secret .*16/);
    assert.match(error(['--turn-ttl', '5']), /--turn-ttl/);
  });

  it('refuses certificate files that do not load, naming the setting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-tls-'));
    try {
      await assert.rejects(
        startServer({
          dataDir,
          logLevel: 'silent',
          tls: { certFile: join(dataDir, 'none.pem'), keyFile: join(dataDir, 'none.key') },
        }),
        (err: unknown) => err instanceof ServerError && /--tls-cert \(KOLOKOL_TLS_CERT\)/.test(err.message),
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the command line default', () => {
  it('serves http:// and https:// (self-signed) on one port and prints both', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-default-'));
    const child = spawn(
      process.execPath,
      [
        main,
        '--port',
        '0',
        '--data',
        dataDir,
        '--log-level',
        'warn',
        '--turn-udp-port',
        '0',
        '--turn-tcp-port',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const out = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout?.on('data', (d: Buffer) => {
          text += d.toString();
          if (/and on https:\S+ .*\n/.test(text)) resolve(text);
        });
        child.on('exit', () => reject(new Error(`server exited early: ${text}`)));
      });
      const plain = /listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(out);
      const secure =
        /and on (https:\/\/127\.0\.0\.1:(\d+)) \(self-signed certificate, SHA-256 ([0-9A-F:]{95})/.exec(out);
      assert.ok(plain !== null && secure !== null, out);
      assert.equal(plain[2], secure[2]);
      assert.equal((await fetch(`${plain[1]}/healthz`)).status, 200);
      const ca = readFileSync(join(dataDir, 'tls', 'self-signed.crt'), 'utf8');
      assert.equal((await new TlsApi(secure[1] ?? '', ca).req('GET', '/healthz')).status, 200);
      const { X509Certificate } = await import('node:crypto');
      assert.equal(new X509Certificate(ca).fingerprint256, secure[3]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
