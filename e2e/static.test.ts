/**
 * How the server serves the web app (packages/server/src/http/static.ts), against a small fake
 * build in a temporary folder: cache policy, SPA fallback, the API's own 404s, path traversal,
 * revalidation, and the page shown when nothing is built.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '@kolokol/server';

describe('the server serves the web app on its own origin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-static-'));
  const web = join(dir, 'web');
  let server: RunningServer;
  before(async () => {
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(web, 'sw.js'), 'self.x = 1;');
    writeFileSync(join(web, 'assets/app-abc123.js'), 'console.log(1);');
    writeFileSync(join(dir, 'secret.txt'), 'not for the web');
    process.env.KOLOKOL_WEB_ROOT = web;
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      logLevel: 'silent',
    });
  });
  after(async () => {
    await server?.close();
    delete process.env.KOLOKOL_WEB_ROOT;
    rmSync(dir, { recursive: true, force: true });
  });

  test('index.html at / and for app routes, revalidated every time', async () => {
    for (const path of ['/', '/c/some-chat', '/settings']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(await res.text(), '<!doctype html><title>app</title>');
    }
  });

  test('hashed assets are immutable; the service worker is not', async () => {
    const asset = await fetch(`${server.url}/assets/app-abc123.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    const sw = await fetch(`${server.url}/sw.js`);
    assert.equal(sw.headers.get('cache-control'), 'no-cache');
    assert.equal((await fetch(`${server.url}/assets/gone-123.js`)).status, 404);
  });

  test('an unchanged file answers 304 to its ETag', async () => {
    const first = await fetch(`${server.url}/sw.js`);
    const etag = first.headers.get('etag') ?? '';
    assert.ok(etag !== '');
    const again = await fetch(`${server.url}/sw.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  test('the API keeps its JSON errors', async () => {
    const res = await fetch(`${server.url}/v1/no-such-thing`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: { code: 'NOT_FOUND', message: 'no such route' } });
    assert.equal((await fetch(`${server.url}/v1/info`)).status, 200);
  });

  test('nothing outside the web root is reachable', async () => {
    for (const path of ['/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2f%2e%2e%2fpackage.json']) {
      const res = await fetch(`${server.url}${path}`);
      assert.doesNotMatch(await res.text(), /not for the web|"name"/, path);
    }
  });

  test('without a build, / says how to make one', async () => {
    rmSync(join(web, 'index.html'));
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /npm run build -w @kolokol\/web/);
  });
});
