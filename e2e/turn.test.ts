/**
 * A real ICE agent against our TURN relay: Chromium, with `iceTransportPolicy: 'relay'`, allocates
 * on the server's embedded relay with the credentials of GET /v1/turn, and two RTCPeerConnections in
 * one page exchange a data channel message relayed through it: once over TURN/UDP, once over
 * `turns:` on the app's own TLS port (HTTPS and TURN on one port, self-signed certificate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type IceServer, TurnResponse } from '@kolokol/protocol';
import { type RunningServer, startServer } from '@kolokol/server';
import type { Browser, Page } from 'playwright-core';
import { registerUser } from '../packages/server/test/helpers.ts';
import { TlsApi } from '../packages/server/test/tls-helpers.ts';
import { hasChromium, launchChromium } from './helpers.ts';

interface Relayed {
  message: string;
  local: { candidateType: string; relayProtocol: string };
  remote: { candidateType: string };
}

/** Runs in the page: two relay-only peers, one data channel message, and the selected pair. */
function exchange(page: Page, iceServers: IceServer[]): Promise<Relayed> {
  return page.evaluate(async (servers) => {
    const config: RTCConfiguration = { iceServers: servers, iceTransportPolicy: 'relay' };
    const a = new RTCPeerConnection(config);
    const b = new RTCPeerConnection(config);
    a.onicecandidate = (e) => {
      if (e.candidate) void b.addIceCandidate(e.candidate);
    };
    b.onicecandidate = (e) => {
      if (e.candidate) void a.addIceCandidate(e.candidate);
    };
    const channel = a.createDataChannel('t');
    const received = new Promise<string>((resolve) => {
      b.ondatachannel = (e) => {
        e.channel.onmessage = (m) => resolve(String(m.data));
      };
    });
    const open = new Promise<void>((resolve) => {
      channel.onopen = () => resolve();
    });
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription as RTCSessionDescriptionInit);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription as RTCSessionDescriptionInit);
    await open;
    channel.send('hello through our TURN');
    const message = await received;

    const stats = await a.getStats();
    const all: Record<string, unknown>[] = [];
    stats.forEach((s: Record<string, unknown>) => {
      all.push(s);
    });
    const transport = all.find((s) => s.type === 'transport');
    const pair = all.find((s) => s.id === transport?.selectedCandidatePairId);
    const local = all.find((s) => s.id === pair?.localCandidateId);
    const remote = all.find((s) => s.id === pair?.remoteCandidateId);
    a.close();
    b.close();
    return {
      message,
      local: { candidateType: String(local?.candidateType), relayProtocol: String(local?.relayProtocol) },
      remote: { candidateType: String(remote?.candidateType) },
    };
  }, iceServers);
}

describe('Chromium relays through our TURN', { skip: !hasChromium }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-turn-'));
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let api: TlsApi;
  let iceServers: IceServer[];

  before(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      logLevel: 'silent',
      tls: {},
      // Both peers sit on this machine, so each relays to the other's relayed address on loopback.
      turn: { allowLoopbackPeers: true },
    });
    api = new TlsApi(server.url, readFileSync(join(dataDir, 'tls', 'self-signed.crt'), 'utf8'));
    const user = await registerUser(api);
    const res = await api.req('GET', '/v1/turn', undefined, user.token);
    iceServers = TurnResponse.parse(res.body).iceServers;
    // The self-signed certificate of the turns: server (Chromium has no way to trust one CA here).
    browser = await launchChromium(['--ignore-certificate-errors']);
    page = await browser.newPage();
    await page.goto(`${server.url}/healthz`);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const only = (scheme: RegExp) => {
    const picked = iceServers.filter((s) => s.urls.some((u) => scheme.test(u)));
    assert.equal(picked.length, 1, JSON.stringify(iceServers));
    return picked;
  };

  async function allocationsCreated(): Promise<number> {
    const text = String((await api.req('GET', '/metrics')).body);
    return Number(/^kolokol_turn_allocations_created_total (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
  }

  test('over UDP', async () => {
    const before = await allocationsCreated();
    const r = await exchange(page, only(/^turn:.*transport=udp$/));
    assert.equal(r.message, 'hello through our TURN');
    assert.equal(r.local.candidateType, 'relay');
    assert.equal(r.local.relayProtocol, 'udp');
    assert.equal(r.remote.candidateType, 'relay');
    assert.ok((await allocationsCreated()) >= before + 2);
  });

  test('over TLS on the app port (turns:), the port that also serves HTTPS', async () => {
    const turns = only(/^turns:/);
    assert.match(
      turns[0]?.urls[0] ?? '',
      new RegExp(`^turns:127\\.0\\.0\\.1:${server.port}\\?transport=tcp$`),
    );
    const before = await allocationsCreated();
    const r = await exchange(page, turns);
    assert.equal(r.message, 'hello through our TURN');
    assert.equal(r.local.candidateType, 'relay');
    assert.equal(r.local.relayProtocol, 'tls');
    assert.ok((await allocationsCreated()) >= before + 2);
    // And the same port still answers HTTPS.
    assert.equal((await api.req('GET', '/healthz')).status, 200);
  });
});
