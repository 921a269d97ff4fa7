/**
 * The community proxy against a local echo upstream: bytes both ways, the PROXY v2 header it
 * writes (checked byte by byte against proxy-protocol.txt 2.2), backpressure, the connection
 * limit, the idle timeout, an upstream that is down, and logs with counts but no addresses.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { CliError } from './errors.ts';
import { type ProxyOptions, parseHostPort, type RunningProxy, startProxy } from './proxy.ts';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const a = server.address();
  assert.ok(typeof a === 'object' && a !== null);
  return a.port;
}

/** An upstream that records the first bytes of each connection and echoes everything. */
async function echoServer(): Promise<{ port: number; firstBytes: Buffer[]; server: Server }> {
  const firstBytes: Buffer[] = [];
  const server = createServer((s) => {
    s.once('data', (b: Buffer) => firstBytes.push(b));
    s.on('error', () => {});
    s.pipe(s);
  });
  return { port: await listen(server), firstBytes, server };
}

const lines: string[] = [];
async function proxy(upstreamPort: number, o: Partial<ProxyOptions> = {}): Promise<RunningProxy> {
  return startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    proxyProtocol: false,
    maxConnections: 100,
    idleTimeoutMs: 60_000,
    connectTimeoutMs: 2000,
    statsIntervalMs: 0,
    log: (l) => lines.push(l),
    ...o,
  });
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
}

async function read(s: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const [chunk] = (await once(s, 'data')) as [Buffer];
    parts.push(chunk);
    got += chunk.length;
  }
  return Buffer.concat(parts);
}

const closed = (s: Socket) => (s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined));

describe('kolokol proxy', () => {
  const toClose: { close(): unknown }[] = [];
  after(async () => {
    for (const c of toClose) await c.close();
  });

  it('forwards bytes both ways, unchanged, without a header by default', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    const p = await proxy(up.port);
    toClose.push(p);
    const s = await open(p.address.port);
    s.write('hello through the proxy');
    assert.equal((await read(s, 23)).toString(), 'hello through the proxy');
    assert.equal(up.firstBytes[0]?.toString(), 'hello through the proxy');
    s.destroy();
  });

  it('starts the upstream stream with a PROXY v2 header naming the client', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    const p = await proxy(up.port, { proxyProtocol: true });
    toClose.push(p);
    const s = await open(p.address.port);
    s.write('x');
    const back = await read(s, 28 + 1);
    // version 2 PROXY, AF_INET STREAM, 12 address bytes: 127.0.0.1:client port -> 127.0.0.1:proxy port
    const expected = Buffer.from([...SIG, 0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 1, 127, 0, 0, 1, 0, 0, 0, 0]);
    expected.writeUInt16BE(s.localPort ?? 0, 24);
    expected.writeUInt16BE(p.address.port, 26);
    assert.deepEqual(back.subarray(0, 28), expected);
    assert.equal(back.subarray(28).toString(), 'x');
    s.destroy();
  });

  it('keeps memory bounded when the client does not read (backpressure)', async () => {
    // An upstream that pushes as fast as it can; the client never reads.
    let written = 0;
    const flood = createServer((s) => {
      s.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (s.write(chunk)) written += chunk.length;
        written += chunk.length;
      };
      s.on('drain', pump);
      pump();
    });
    const port = await listen(flood);
    toClose.push(flood);
    const p = await proxy(port);
    toClose.push(p);
    const s = await open(p.address.port);
    s.pause();
    await new Promise((r) => setTimeout(r, 500));
    const first = written;
    await new Promise((r) => setTimeout(r, 500));
    // Socket buffers of three hops fill, then the upstream is told to wait: writing stops.
    assert.equal(written, first, 'the upstream stopped being drained');
    assert.ok(written < 64 * 1024 * 1024, `${written} bytes accepted from upstream`);
    s.destroy();
  });

  it('closes connections over the limit at once and counts them', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    const p = await proxy(up.port, { maxConnections: 2 });
    toClose.push(p);
    const a = await open(p.address.port);
    const b = await open(p.address.port);
    a.write('a');
    b.write('b');
    await read(a, 1);
    await read(b, 1);
    const c = await open(p.address.port);
    await closed(c);
    assert.equal(p.stats().refused, 1);
    assert.equal(p.stats().active, 2);
    a.destroy();
    b.destroy();
  });

  it('closes an idle connection', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    const p = await proxy(up.port, { idleTimeoutMs: 300 });
    toClose.push(p);
    const s = await open(p.address.port);
    s.write('ping');
    await read(s, 4);
    await closed(s);
    assert.equal(p.stats().idleClosed, 1);
    assert.equal(p.stats().active, 0);
  });

  it('closes the client when the upstream is down, and counts it', async () => {
    const gone = createServer();
    const port = await listen(gone);
    await new Promise((r) => gone.close(r));
    const p = await proxy(port);
    toClose.push(p);
    const s = await open(p.address.port);
    await closed(s);
    assert.equal(p.stats().upstreamFailed, 1);
  });

  it('logs counts, never addresses', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    const p = await proxy(up.port);
    const s = await open(p.address.port);
    s.write('abc');
    await read(s, 3);
    s.destroy();
    await p.close();
    const last = lines.at(-1) ?? '';
    assert.match(last, /1 accepted/);
    assert.match(last, /3 bytes up, 3 bytes down/);
    for (const l of lines) assert.doesNotMatch(l, /127\.0\.0\.1|\d+\.\d+\.\d+\.\d+/);
  });

  it('fails clearly on a port in use and on a bad address', async () => {
    const up = await echoServer();
    toClose.push(up.server);
    await assert.rejects(proxy(up.port, { listen: { host: '127.0.0.1', port: up.port } }), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.match(e.message, /cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
      return true;
    });
    assert.deepEqual(parseHostPort('[::1]:8443', '--listen'), { host: '::1', port: 8443 });
    assert.deepEqual(parseHostPort('server.example:443', '--upstream'), {
      host: 'server.example',
      port: 443,
    });
    assert.throws(() => parseHostPort('server.example', '--upstream'), /--upstream must be HOST:PORT/);
    assert.throws(() => parseHostPort('1.2.3.4:70000', '--listen'), /--listen must be HOST:PORT/);
  });
});
