/**
 * Keeps apps/web/dist up to date: builds the web app when dist is missing or older than any source
 * it is made from (apps/web, the SDK and the packages the SDK compiles in). Used by `npm start`
 * and by the end-to-end tests, so both always serve what the code says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, globSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const webDir = join(repoRoot, 'apps/web');
export const webDist = join(webDir, 'dist');

const SOURCES = [
  'apps/web/src/**/*',
  'apps/web/public/**/*',
  'apps/web/index.html',
  'apps/web/vite.config.ts',
  'apps/web/package.json',
  'packages/sdk/src/**/*.ts',
  'packages/crypto/src/**/*.ts',
  'packages/protocol/src/**/*.ts',
  'packages/calls/src/**/*.ts',
];

function newestSource(): number {
  let newest = 0;
  for (const pattern of SOURCES) {
    for (const f of globSync(pattern, { cwd: repoRoot })) {
      if (f.endsWith('.test.ts')) continue;
      const s = statSync(join(repoRoot, f), { throwIfNoEntry: false });
      if (s?.isFile() === true && s.mtimeMs > newest) newest = s.mtimeMs;
    }
  }
  return newest;
}

/** Whether dist is missing or older than a source file. */
export function webAppStale(): boolean {
  const index = join(webDist, 'index.html');
  if (!existsSync(index)) return true;
  return statSync(index).mtimeMs < newestSource();
}

const LOCK = join(webDir, '.build-lock');
const LOCK_STALE_MS = 5 * 60_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds the web app if it is stale; returns whether it built. Throws when the build fails.
 * Test files run in parallel processes, so one builds while the others wait (a lock folder:
 * mkdir is atomic) and then find dist fresh.
 */
export function ensureWebApp(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): boolean {
  if (!webAppStale()) return false;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      // A build that died leaves its lock behind; past any real build time it is ignored.
      if (age > LOCK_STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      else sleepSync(250);
    }
  }
  try {
    if (!webAppStale()) return false;
    log('building the web app…');
    const vite = join(repoRoot, 'node_modules/vite/bin/vite.js');
    const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], {
      cwd: webDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      // `npm test` runs with NODE_ENV=test, and Vite honours an inherited NODE_ENV: it would build
      // React's development bundle with import.meta.env.PROD false, so no service worker at all.
      env: { ...process.env, NODE_ENV: 'production' },
    });
    if (r.status !== 0) throw new Error(`web app build failed (exit ${r.status ?? r.signal})`);
    return true;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
