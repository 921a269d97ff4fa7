import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@kolokol/server';
import { TestkitError } from './errors.ts';
import { makeTempDir, removeTempDir } from './tmp.ts';

type ServerConfig = Parameters<typeof startServer>[0];

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * An in-process server on a random port with a fresh data folder (SQLite), silent logs. close()
 * stops it and removes the folder (unless KOLOKOL_KEEP_DATA is set).
 */
export async function startTestServer(
  opts?: Partial<Omit<ServerConfig, 'dataDir'>> & { dataDir?: string },
): Promise<TestServer> {
  const ownDir = opts?.dataDir === undefined;
  const dataDir = opts?.dataDir ?? (await makeTempDir('server'));
  try {
    const srv = await startServer({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...opts, dataDir });
    let closed = false;
    return {
      url: srv.url,
      port: srv.port,
      dataDir,
      async close() {
        if (closed) return;
        closed = true;
        await srv.close();
        if (ownDir) await removeTempDir(dataDir);
      },
    };
  } catch (e) {
    if (ownDir) await removeTempDir(dataDir);
    throw e;
  }
}

/** Repository root, found from this file so tests work from any working directory. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const serverMain = join(repoRoot, 'packages/server/src/main.ts');

export interface SpawnOptions {
  /** Data folder; a fresh temporary one (removed by close()) when omitted. */
  dataDir?: string;
  port?: number;
  /** Extra command-line flags, after --port and --data. */
  args?: string[];
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /**
   * Script to run instead of packages/server/src/main.ts; it gets the same flags and must print the
   * same "listening on URL" line (the benchmark uses one that lifts the rate limits).
   */
  entry?: string;
}

export interface SpawnedServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Everything the process (and every restart of it) wrote on stdout and stderr. */
  logs(): string;
  /** Sends a signal and waits for the process to exit. SIGKILL for crash tests. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts the process again on the same data folder and port. */
  restart(): Promise<void>;
  /** Graceful stop (SIGTERM, then SIGKILL after 10 s) and removal of a temporary data folder. */
  close(): Promise<void>;
}

const LISTENING_RE = /listening on (https?:\/\/[^\s"]+)/;

/** The real server process, `node packages/server/src/main.ts --port P --data DIR`, on the same Node. */
export async function spawnServer(opts?: SpawnOptions): Promise<SpawnedServer> {
  const ownDir = opts?.dataDir === undefined;
  const dataDir = opts?.dataDir ?? (await makeTempDir('spawned'));
  const chunks: string[] = [];
  let child: ChildProcess | undefined;
  let url = '';
  let port = opts?.port ?? 0;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({
    code: 0,
    signal: null,
  });
  let running = false;

  const launch = async (): Promise<void> => {
    const args = [
      opts?.entry ?? serverMain,
      '--port',
      String(port),
      '--data',
      dataDir,
      '--host',
      '127.0.0.1',
      // Plain HTTP (tests speak to it with fetch) and TURN on random ports (parallel servers).
      '--tls',
      'off',
      '--turn-udp-port',
      '0',
      '--turn-tcp-port',
      '0',
      ...(opts?.args ?? []),
    ];
    const proc = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, NODE_ENV: 'test', ...opts?.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    running = true;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    exited = new Promise((res) =>
      proc.once('exit', (code, signal) => {
        running = false;
        res({ code, signal });
      }),
    );
    const timeoutMs = opts?.startTimeoutMs ?? 20_000;
    let startLog = '';
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(
          new TestkitError(
            'SERVER_START',
            `server did not print "listening on" within ${timeoutMs} ms; output:\n${startLog}`,
          ),
        );
      }, timeoutMs);
      let lineBuf = '';
      const onOut = (s: string) => {
        lineBuf += s;
        const m = LISTENING_RE.exec(lineBuf);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          proc.stdout.off('data', onOut);
          url = m[1].replace(/\/$/, '');
          port = Number(new URL(url).port);
          resolveStart();
        }
      };
      proc.stdout.on('data', onOut);
      const capture = (s: string) => {
        chunks.push(s);
        if (startLog.length < 64_000) startLog += s;
      };
      proc.stdout.on('data', capture);
      proc.stderr.on('data', capture);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new TestkitError(
            'SERVER_EXIT',
            `server exited (${code ?? signal}) before listening; output:\n${startLog}`,
          ),
        );
      });
    });
  };

  try {
    await launch();
  } catch (e) {
    if (ownDir) await removeTempDir(dataDir);
    throw e;
  }

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (!running || child === undefined) return exited;
    child.kill(signal);
    return exited;
  };

  return {
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    dataDir,
    get pid() {
      return child?.pid;
    },
    logs: () => chunks.join(''),
    kill,
    async restart() {
      if (running) await kill('SIGTERM');
      await launch();
    },
    async close() {
      if (running && child !== undefined) {
        const proc = child;
        const force = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await kill('SIGTERM');
        clearTimeout(force);
      }
      if (ownDir) await removeTempDir(dataDir);
    },
  };
}
