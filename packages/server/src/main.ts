/**
 * `npm start` / `kolokol-server`: configuration from flags, environment and an optional JSON
 * file; one plain "listening" line on stdout, JSON logs after it; graceful stop on SIGTERM/SIGINT.
 */
import { createOperatorInvite } from './admin.ts';
import { startServer } from './app.ts';
import { helpText, loadConfig, type ServerConfig } from './config.ts';
import { ServerError } from './errors.ts';
import { MODERATION_COMMANDS, runModerationCommand, splitModerationArgs } from './moderation/admin.ts';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(helpText());
  process.exit(0);
}

// `kolokol-server invite [settings]`: print a single-use invite code (see admin.ts).
const command = argv[0] === 'invite' ? argv.shift() : undefined;

// `kolokol-server reports|appeals|suspension|limits …`: the moderation queue (moderation/admin.ts).
if (argv[0] !== undefined && MODERATION_COMMANDS.has(argv[0])) {
  try {
    const args = splitModerationArgs(argv);
    const out = await runModerationCommand(loadConfig(args.rest, process.env), args);
    process.stdout.write(`${out}\n`);
    process.exit(0);
  } catch (err) {
    process.stderr.write(`kolokol: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof ServerError && err.code === 'CONFIG' ? 2 : 1);
  }
}

let config: ServerConfig;
try {
  config = loadConfig(argv, process.env);
} catch (err) {
  process.stderr.write(`kolokol: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}

if (command === 'invite') {
  try {
    const invite = await createOperatorInvite(config);
    process.stdout.write(`${invite.code}\n`);
    process.stderr.write(`kolokol: invite valid until ${new Date(invite.expiresAt).toISOString()}\n`);
    process.exit(0);
  } catch (err) {
    process.stderr.write(
      `kolokol: cannot create invite: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  }
}

try {
  const server = await startServer(config);
  process.stdout.write(`Kolokol listening on ${server.plainUrl ?? server.url}\n`);
  if (server.plainUrl !== undefined) {
    // The first line is what a browser on this machine should open; others need the https one.
    process.stdout.write(
      `  and on ${server.url} (self-signed certificate, SHA-256 ${server.fingerprint256 ?? '?'}; see README "TLS")\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`kolokol: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(
          `kolokol: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `kolokol: ${err instanceof ServerError && err.code === 'CONFIG' ? message : `cannot start: ${message}`}\n`,
  );
  process.exit(err instanceof ServerError && err.code === 'CONFIG' ? 2 : 1);
}
