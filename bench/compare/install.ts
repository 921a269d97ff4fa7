/**
 * ejabberd and Prosody from Debian's packages, installed when missing. The comparison never uses
 * the system services: it starts each server itself with a generated config on free ports. A
 * package install may start the packaged daemon (where the machine's policy allows it); that one
 * would hold port 5222 and take CPU and memory on the cores we measure, so it is stopped.
 */
import { spawnSync } from 'node:child_process';
import { tryRun } from './proc.ts';

/** The packages each server needs, SQLite bindings included (the durable rows use them). */
const PACKAGES: Record<'ejabberd' | 'prosody', string[]> = {
  ejabberd: ['ejabberd', 'erlang-p1-sqlite3'],
  prosody: ['prosody', 'lua-dbi-sqlite3'],
};

function installed(pkg: string): boolean {
  return tryRun('dpkg-query', ['-W', `-f=\${Status}`, pkg])?.includes('install ok installed') === true;
}

export function packageVersion(pkg: string): string | undefined {
  const v = tryRun('dpkg-query', ['-W', `-f=\${Version}`, pkg])?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function serviceRunning(name: string): boolean {
  return spawnSync('service', [name, 'status'], { stdio: 'ignore' }).status === 0;
}

/** Returns the servers that are usable; prints what it installs, stops, or cannot do. */
export function ensureXmppServers(wanted: Array<'ejabberd' | 'prosody'>): Array<'ejabberd' | 'prosody'> {
  const missing = wanted.flatMap((w) => PACKAGES[w]).filter((p) => !installed(p));
  if (missing.length > 0) {
    if (tryRun('apt-get', ['--version']) === undefined) {
      process.stdout.write(
        `apt-get is not available: cannot install ${missing.join(', ')}; running Kolokol alone\n`,
      );
      return wanted.filter((w) => PACKAGES[w].every(installed));
    }
    process.stdout.write(`installing from Debian: apt-get install -y ${missing.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // An old package list may not know the packages; a failed update is not fatal by itself.
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const res = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env });
    if (res.status !== 0) process.stdout.write(`apt-get install failed (exit ${res.status})\n`);
    for (const w of wanted) {
      if (serviceRunning(w)) {
        process.stdout.write(
          `the package started the system ${w} service; stopping it (it holds the default ports and would ` +
            `share the measured cores; the bench runs its own ${w} with a generated config)\n`,
        );
        spawnSync('service', [w, 'stop'], { stdio: 'inherit' });
      }
    }
  } else {
    for (const w of wanted) {
      if (serviceRunning(w))
        process.stdout.write(
          `note: a system ${w} service is running (not ours, left alone); it shares the machine with the measurement\n`,
        );
    }
  }
  const usable = wanted.filter((w) => PACKAGES[w].every(installed));
  for (const w of wanted)
    if (!usable.includes(w)) process.stdout.write(`${w} is not installed: its rows are skipped\n`);
  return usable;
}
