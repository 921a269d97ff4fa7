/**
 * Processes for the comparison: servers started pinned to one core with a raised open-file limit,
 * and their memory and CPU read from /proc over the whole process tree (ejabberd is a shell, `su`
 * and a BEAM; counting only the first pid would measure the shell). Linux only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const SERVER_CPU = 0;
export const HARNESS_CPU = 1;
/** Open files per process: 10k client sockets, their peers' in the harness, plus files and pipes. */
export const NOFILE = 65_536;
/**
 * Shell prefix that raises the open-file limit to NOFILE, or to the hard limit where raising that
 * is not permitted (root in a container without CAP_SYS_RESOURCE).
 */
export const RAISE_NOFILE = `ulimit -Hn ${NOFILE} 2>/dev/null; ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)";`;

let tasksetChecked: boolean | undefined;
export function hasTaskset(): boolean {
  if (tasksetChecked === undefined) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      tasksetChecked = true;
    } catch {
      tasksetChecked = false;
      process.stderr.write('taskset is missing (util-linux): servers and harness are NOT pinned to cores\n');
    }
  }
  return tasksetChecked;
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  exited(): boolean;
  /** SIGTERM to the tree, SIGKILL to whatever is left after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `cmd args` through `sh -c 'ulimit -n N; exec taskset -c CPU cmd args'`: the shell raises the
 * limit (we are root, so the hard limit too) and `exec` leaves one process, pinned, whose children
 * inherit both.
 */
export function spawnPinned(
  cmd: string,
  args: string[],
  opts: { cpu: number; env?: Record<string, string>; cwd?: string },
): Spawned {
  const pin = hasTaskset() ? `taskset -c ${opts.cpu} ` : '';
  const line = `${RAISE_NOFILE} exec ${pin}${[cmd, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('sh', ['-c', line], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${cmd}`);
  let log = '';
  const keep = (b: Buffer) => {
    // The start of the log says why a server refused to start; the rest is noise under load.
    if (log.length < 200_000) log += b.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      done = true;
      resolve();
    }),
  );
  return {
    child,
    pid,
    output: () => log,
    exited: () => done,
    async stop(graceMs = 10_000) {
      const tree = descendants(pid);
      for (const p of tree) signal(p, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && tree.some(alive)) await sleep(100);
      for (const p of tree) if (alive(p)) signal(p, 'SIGKILL');
      if (!done) await Promise.race([exit, sleep(2000)]);
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it, found through the ppid field of /proc/N/stat. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const f = statFields(p);
    if (f?.[1] !== undefined) parent.set(p, Number(f[1]));
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const [child, ppid] of parent) if (ppid === out[i]) out.push(child);
  }
  return out.filter(alive);
}

/** Resident memory of the trees under `roots`, in bytes. */
export function treeRss(roots: number[]): number {
  let kb = 0;
  for (const root of roots) {
    for (const p of descendants(root)) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
        kb += Number(m?.[1] ?? 0);
      } catch {
        // exited between listing and reading
      }
    }
  }
  return kb * 1024;
}

const CLK_TCK = 100;

/** utime + stime of the trees under `roots`, in seconds (children still running, not reaped ones). */
export function treeCpu(roots: number[]): number {
  let ticks = 0;
  for (const root of roots) {
    for (const p of descendants(root)) {
      const f = statFields(p);
      if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
    }
  }
  return ticks / CLK_TCK;
}

/** A port the kernel just handed out on 127.0.0.1 (closed again: a server binds it right after). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitPort(port: number, timeoutMs: number, proc?: Spawned): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc?.exited()) throw new Error(`server exited before listening on ${port}:\n${proc.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(
    `nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`,
  );
}

/** Pins this process (every thread, so libuv's pool too) to `cpu`. */
export function pinSelf(cpu: number): void {
  if (!hasTaskset()) return;
  execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** Runs and returns stdout, or undefined when the command is missing or fails. */
export function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return undefined;
  }
}

const cleanups = new Set<() => Promise<void>>();
let interruptHooked = false;

/**
 * Runs `fn` if the harness is stopped by SIGINT or SIGTERM before the returned function is called
 * (which unregisters it). Servers started through spawnPinned share the terminal's process group
 * and see a Ctrl-C themselves, but what only the harness can undo (a cluster's PostgreSQL schema,
 * temporary folders, servers that got no signal) has to be undone here, or it outlives the run.
 */
export function onInterrupt(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  if (!interruptHooked) {
    interruptHooked = true;
    let stopping = false;
    const handler = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${sig}: cleaning up...\n`);
      const all = [...cleanups].map((f) =>
        f().catch((e: unknown) => process.stderr.write(`  cleanup: ${e}\n`)),
      );
      // A cleanup that hangs (an unreachable database) must not keep the harness alive forever.
      Promise.race([Promise.all(all), sleep(20_000)]).finally(() =>
        process.exit(sig === 'SIGINT' ? 130 : 143),
      );
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  }
  return () => {
    cleanups.delete(fn);
  };
}

/** Whether a process with this id runs on this machine. */
export function pidAlive(pid: number): boolean {
  return alive(pid);
}
