/**
 * The censorship rig's network, made by the test itself from Linux network namespaces and veth
 * pairs (iproute2) and filtered with nftables on the censor's forward chain:
 *
 *   client ns (Alice's Chromium)   censor ns (router)             server ns
 *   10.77.1.2 ─── veth ─── 10.77.1.1 │ 10.77.2.1 ─── veth ─── 10.77.2.2 (front 1), 10.77.2.3 (front 2)
 *   client2 ns (Bob's Chromium)      │
 *   10.77.4.2 ─── veth ─── 10.77.4.1 │ 10.77.3.1 ─── veth ─── 10.77.3.2  proxy ns (community proxy)
 *
 * Two people in two namespaces, both behind the censor: a call between them cannot take a
 * shortcut around it.
 *
 * Every address lives only inside these namespaces; nothing touches the machine's own network.
 * Names carry the process id so that two runs (or a stale one) do not collide.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const NET = {
  client: '10.77.1.2',
  censorClientSide: '10.77.1.1',
  front1: '10.77.2.2',
  front2: '10.77.2.3',
  censorServerSide: '10.77.2.1',
  proxy: '10.77.3.2',
  censorProxySide: '10.77.3.1',
  client2: '10.77.4.2',
  censorClient2Side: '10.77.4.1',
  clientNet: '10.77.1.0/24',
  client2Net: '10.77.4.0/24',
  serverNet: '10.77.2.0/24',
} as const;

export interface Namespaces {
  client: string;
  client2: string;
  censor: string;
  server: string;
  proxy: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(ns: string, cmd: string, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why the rig cannot run here, or undefined when it can (root, ip, nft, namespaces). */
export function rigUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const tool of ['ip', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} is missing (apt-get install -y iproute2 nftables)`;
  }
  const probe = `kkprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export function createNetwork(): Namespaces {
  const id = String(process.pid % 100_000);
  const ns: Namespaces = {
    client: `kkc${id}`,
    client2: `kkb${id}`,
    censor: `kkr${id}`,
    server: `kks${id}`,
    proxy: `kkp${id}`,
  };
  destroyNetwork(ns);
  for (const n of Object.values(ns)) ip('netns', 'add', n);
  const link = (a: string, aNs: string, b: string, bNs: string) => {
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    ip('link', 'set', a, 'netns', aNs);
    ip('link', 'set', b, 'netns', bNs);
  };
  link(`kc${id}`, ns.client, `krc${id}`, ns.censor);
  link(`kb${id}`, ns.client2, `krb${id}`, ns.censor);
  link(`ks${id}`, ns.server, `krs${id}`, ns.censor);
  link(`kp${id}`, ns.proxy, `krp${id}`, ns.censor);
  const up = (n: string, dev: string, ...addrs: string[]) => {
    for (const a of addrs) ip('-n', n, 'addr', 'add', a, 'dev', dev);
    ip('-n', n, 'link', 'set', dev, 'up');
    ip('-n', n, 'link', 'set', 'lo', 'up');
  };
  up(ns.client, `kc${id}`, `${NET.client}/24`);
  up(ns.client2, `kb${id}`, `${NET.client2}/24`);
  up(ns.censor, `krb${id}`, `${NET.censorClient2Side}/24`);
  up(ns.server, `ks${id}`, `${NET.front1}/24`, `${NET.front2}/24`);
  up(ns.proxy, `kp${id}`, `${NET.proxy}/24`);
  up(ns.censor, `krc${id}`, `${NET.censorClientSide}/24`);
  up(ns.censor, `krs${id}`, `${NET.censorServerSide}/24`);
  up(ns.censor, `krp${id}`, `${NET.censorProxySide}/24`);
  ip('-n', ns.client, 'route', 'add', 'default', 'via', NET.censorClientSide);
  ip('-n', ns.client2, 'route', 'add', 'default', 'via', NET.censorClient2Side);
  ip('-n', ns.server, 'route', 'add', 'default', 'via', NET.censorServerSide);
  ip('-n', ns.proxy, 'route', 'add', 'default', 'via', NET.censorProxySide);
  inNs(ns.censor, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  return ns;
}

/** Replaces the censor's forward chain with `rules` (nft rule lines; empty = an open network). */
export function applyRules(ns: Namespaces, rules: readonly string[]): void {
  const script = [
    'table inet censor',
    'delete table inet censor',
    'table inet censor {',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
  execFileSync('ip', ['netns', 'exec', ns.censor, 'nft', '-f', '-'], {
    input: script,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  // A new rule must not spare flows that started under the old one (conntrack keeps them).
  spawnSync(
    'ip',
    ['netns', 'exec', ns.censor, 'sh', '-c', 'command -v conntrack >/dev/null && conntrack -F'],
    {
      stdio: 'ignore',
    },
  );
}

export function destroyNetwork(ns: Namespaces): void {
  // Deleting a namespace deletes its veth ends, and with them their peers.
  for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
}
