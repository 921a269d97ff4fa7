/**
 * `npm start`: builds the web app when its sources changed, then runs the server with the same
 * arguments (`npm start -- --port 9000`). The server serves the app at `/` on its own origin.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SERVER_NODE_FLAGS } from '../packages/server/src/node-flags.ts';
import { ensureWebApp, repoRoot } from './webapp.ts';

const argv = process.argv.slice(2);
// `--help` and `invite` need no web app.
if (!argv.includes('--help') && !argv.includes('-h') && argv[0] !== 'invite') {
  try {
    ensureWebApp();
  } catch (e) {
    process.stderr.write(
      `kolokol: ${e instanceof Error ? e.message : String(e)}; the API still starts, / explains how to build\n`,
    );
  }
}

const child = spawn(
  process.execPath,
  [...SERVER_NODE_FLAGS, join(repoRoot, 'packages/server/src/main.ts'), ...argv],
  { stdio: 'inherit' },
);
// The server handles SIGINT/SIGTERM gracefully; pass them on and exit as it exits.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
