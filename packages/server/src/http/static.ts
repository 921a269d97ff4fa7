/**
 * Serves the web app (apps/web/dist) on the same origin and port as the API: one origin is a
 * principle of the product (a censor must block the whole service to block any of it).
 *
 * A small stream handler rather than @fastify/static: we need exactly four behaviours (safe path
 * resolution, SPA fallback, two cache policies, ETag revalidation), and a catch-all GET route
 * composes with the API's own JSON not-found handler, which a second not-found handler would not.
 */
import { createReadStream, existsSync, type Stats, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '@kolokol/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Context } from '../context.ts';
import { ServerError } from '../errors.ts';

/** apps/web/dist of this checkout, found from this file so any working directory works. */
export const defaultWebRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../apps/web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Vite puts content-hashed files under assets/: their bytes never change under one name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else (index.html, sw.js, the manifest) must be revalidated, or updates never arrive. */
const REVALIDATE = 'no-cache';

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Kolokol</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem">
<h1>Kolokol is running</h1><p>The web app has not been built yet. Run <code>npm start</code> (it builds
the app when needed) or <code>npm run build -w @kolokol/web</code>, then reload this page.</p>
<p>The API answers under <code>/v1/</code>.</p></body></html>`;

/** Where the server looks for the web app: KOLOKOL_WEB_ROOT, else apps/web/dist of this checkout. */
export function webRootFrom(ctx: Context): string {
  const fromConfig = (ctx.config as { webRoot?: unknown }).webRoot;
  if (typeof fromConfig === 'string' && fromConfig !== '') return resolve(fromConfig);
  const fromEnv = process.env.KOLOKOL_WEB_ROOT;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return defaultWebRoot;
}

function fileIn(root: string, urlPath: string): { path: string; stat: Stats } | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const path = normalize(join(root, decoded));
  // normalize() folds `..`; anything that still lands outside the root is refused.
  if (path !== root && !path.startsWith(root + sep)) return undefined;
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat?.isFile() === true ? { path, stat } : undefined;
}

function send(
  reply: FastifyReply,
  file: { path: string; stat: Stats },
  cache: string,
  ifNoneMatch: string | undefined,
) {
  const etag = `"${file.stat.size.toString(36)}-${Math.floor(file.stat.mtimeMs).toString(36)}"`;
  reply
    .header('cache-control', cache)
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .type(TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream');
  if (ifNoneMatch === etag) return reply.status(304).send();
  reply.header('content-length', file.stat.size);
  return reply.send(createReadStream(file.path));
}

export function registerStatic(app: FastifyInstance, ctx: Context): void {
  const root = webRootFrom(ctx);
  app.get('/*', async (req, reply) => {
    const path = (req.url.split('?')[0] ?? '/').replace(/\/+$/, '') || '/';
    // The API keeps its JSON errors: an unknown /v1 path is never answered with the app.
    if (path === '/v1' || path.startsWith('/v1/')) throw new ServerError(ErrorCode.NotFound, 'no such route');
    const index = join(root, 'index.html');
    if (!existsSync(index)) {
      return reply
        .status(503)
        .header('cache-control', REVALIDATE)
        .type('text/html; charset=utf-8')
        .send(NOT_BUILT);
    }
    const inm = req.headers['if-none-match'];
    const found = path === '/' ? undefined : fileIn(root, path);
    if (found !== undefined) {
      const hashed = found.path.startsWith(join(root, 'assets') + sep);
      return send(reply, found, hashed ? IMMUTABLE : REVALIDATE, inm);
    }
    // A missing hashed asset is a real 404 (an old tab asking for a replaced chunk), not the app.
    if (path.startsWith('/assets/')) throw new ServerError(ErrorCode.NotFound, 'no such file');
    const stat = statSync(index);
    return send(reply, { path: index, stat }, REVALIDATE, inm);
  });
}
