/**
 * ejabberd and Prosody as comparison targets: a config generated into a temporary folder (loopback,
 * plain TCP, no TLS, no shapers or rate limits, in-band registration open), the server started as
 * our own child process on a free port (never the system service), and clients over `@xmpp/client`.
 *
 * Per message an XMPP client sends one `<message type="chat">` to the peer's full JID; the server
 * routes it to the peer's session (and with `durable`, first writes it to the sender's and the
 * receiver's MAM archive on SQLite). Stream management (XEP-0198) is on, as `@xmpp/client` and both
 * servers enable it by default: the receiver acknowledges stanzas with `<a h=…/>` when asked,
 * which is XMPP's counterpart of Kolokol's `ack`.
 */
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Client, client, xml } from '@xmpp/client';
import { freePort, SERVER_CPU, type Spawned, spawnPinned, tryRun, waitPort } from './proc.ts';
import type { BenchClient, Peer, Target, TargetOptions } from './target.ts';

const DOMAIN = 'localhost';
const PASSWORD = 'bench-password';

/** Registers one account by XEP-0077 in-band registration on a fresh unauthenticated stream. */
async function register(port: number, username: string): Promise<void> {
  const sock = new Socket();
  let buf = '';
  let sent = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`registration of ${username} timed out: ${buf}`)),
        30_000,
      );
      sock.setEncoding('utf8');
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (!sent && buf.includes('</stream:features>')) {
          sent = true;
          sock.write(
            `<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>${username}</username><password>${PASSWORD}</password></query></iq>`,
          );
          return;
        }
        const m = /<iq[^>]*id=['"]reg1['"][^>]*>/.exec(buf);
        if (m === null) return;
        clearTimeout(timer);
        // A conflict means the account is there already (a re-run on the same folder): good enough.
        if (/type=['"]result['"]/.test(m[0]) || buf.includes('<conflict')) resolve();
        else reject(new Error(`registration of ${username} refused: ${buf.slice(m.index, m.index + 400)}`));
      });
      sock.connect(port, '127.0.0.1', () => {
        sock.write(
          `<?xml version='1.0'?><stream:stream to='${DOMAIN}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
        );
      });
    });
  } finally {
    sock.end('</stream:stream>');
    sock.destroy();
  }
}

class XmppBenchClient implements BenchClient {
  readonly address: string;
  private readonly xmpp: Client;
  private sendErrors = 0;

  private constructor(xmpp: Client, address: string) {
    this.xmpp = xmpp;
    this.address = address;
  }

  static async connect(
    port: number,
    username: string,
    onMessage: (id: string) => void,
  ): Promise<XmppBenchClient> {
    const xmpp = client({
      service: `xmpp://127.0.0.1:${port}`,
      domain: DOMAIN,
      resource: 'bench',
      // SASL PLAIN where offered (both servers do, on this loopback-only setup): @xmpp/client would
      // pick SCRAM-SHA-1, whose PBKDF2 and extra round trip made connecting 10k clients take most
      // of an hour; the login mechanism has nothing to do with what is measured once connected.
      credentials: (authenticate, mechanisms) =>
        authenticate(
          { username, password: PASSWORD },
          mechanisms.includes('PLAIN') ? 'PLAIN' : (mechanisms[0] ?? 'PLAIN'),
          xml('user-agent', { id: `bench-${username}` }),
        ),
    });
    // Nagle off, as the `ws` client of Kolokol's harness has it (ws sets TCP_NODELAY): with it on,
    // a client's stanza written while the previous one is unacknowledged waits for the server's
    // delayed ACK, which put a floor of ~24 ms under the XMPP servers' p50 from 3000/s on.
    xmpp.on('connect', () => {
      const socket: unknown = (xmpp as { socket?: unknown }).socket;
      if (socket instanceof Socket) socket.setNoDelay(true);
    });
    // A dropped connection must show up as undelivered messages, not be papered over.
    xmpp.reconnect.stop();
    xmpp.on('error', () => undefined);
    xmpp.on('stanza', (stanza) => {
      if (process.env.XMPP_DEBUG) process.stderr.write(`${username}: ${stanza.toString()}\n`);
      // Only chat messages count: an error bounce carries the id of the message it bounces.
      if (!stanza.is('message') || stanza.attrs.type === 'error' || stanza.getChild('body') === undefined)
        return;
      const id = stanza.attrs.id;
      if (typeof id === 'string') onMessage(id);
    });
    const address = await xmpp.start();
    // An available session, as a client people use would have (it also makes the session count
    // as online for routing to the bare JID on both servers).
    await xmpp.send(xml('presence'));
    return new XmppBenchClient(xmpp, address.toString());
  }

  send(peer: Peer, id: string, body: string): void {
    this.xmpp
      .send(xml('message', { to: peer.address, type: 'chat', id }, xml('body', {}, body)))
      .catch(() => {
        this.sendErrors++;
      });
  }

  errors(): number {
    return this.sendErrors;
  }

  async close(): Promise<void> {
    await this.xmpp.stop().catch(() => undefined);
  }
}

interface XmppServer {
  proc: Spawned;
  port: number;
}

function ejabberdConfig(dir: string, port: number, durable: boolean): string {
  const sql = durable
    ? `sql_type: sqlite
sql_database: "${join(dir, 'ejabberd.db')}"
sql_pool_size: 1
`
    : '';
  const mam = durable
    ? `  mod_mam:
    db_type: sql
    default: always
`
    : '';
  return `# Generated by npm run bench -- compare: loopback, plain TCP, no shapers, open registration.
hosts:
  - "${DOMAIN}"
loglevel: warning
log_rotate_count: 0
${sql}listen:
  - port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
    max_stanza_size: 262144
    backlog: 4096
    access: all
auth_method: internal
auth_password_format: plain
registration_timeout: infinity
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  register:
    allow: all
modules:
  mod_roster: {}
  mod_offline: {}
  mod_stream_mgmt: {}
  mod_register:
    ip_access: all
    access: register
    password_strength: 0
${mam}`;
}

async function startEjabberd(dir: string, durable: boolean): Promise<XmppServer> {
  const port = await freePort();
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'spool'), { recursive: true });
  writeFileSync(join(dir, 'ejabberd.yml'), ejabberdConfig(dir, port, durable));
  // ejabberdctl sources this file; ERLANG_OPTS needs POLL and ERL_PROCESSES set.
  const node = `bench${process.pid}_${port}@localhost`;
  writeFileSync(
    join(dir, 'ejabberdctl.cfg'),
    [
      'POLL=true',
      'ERL_MAX_PORTS=65536',
      'ERL_PROCESSES=1000000',
      'INET_DIST_INTERFACE=127.0.0.1',
      `ERLANG_NODE=${node}`,
      `EJABBERD_PID_PATH=${join(dir, 'ejabberd.pid')}`,
      '',
    ].join('\n'),
  );
  if (existsSync('/etc/ejabberd/inetrc')) copyFileSync('/etc/ejabberd/inetrc', join(dir, 'inetrc'));
  if (durable) {
    // ejabberd 23.01 does not create its SQL schema; the package ships it.
    const db = new DatabaseSync(join(dir, 'ejabberd.db'));
    db.exec(readFileSync('/usr/share/ejabberd/sql/lite.sql', 'utf8'));
    db.close();
  }
  // As root, ejabberdctl re-runs itself as the `ejabberd` user, which must own its folders.
  const uid = Number(tryRun('id', ['-u', 'ejabberd'])?.trim());
  const gid = Number(tryRun('id', ['-g', 'ejabberd'])?.trim());
  if (Number.isInteger(uid) && Number.isInteger(gid)) {
    chmodSync(dir, 0o755);
    for (const f of [
      '',
      'logs',
      'spool',
      'ejabberd.yml',
      'ejabberdctl.cfg',
      ...(durable ? ['ejabberd.db'] : []),
    ])
      chownSync(join(dir, f), uid, gid);
  }
  // Started as the ejabberd user already: as root, ejabberdctl would re-run itself through `su`,
  // whose PAM session puts the open-file limit back to 1024 (ejabberd then refuses connections
  // past about a thousand with "too many open files"); setpriv keeps the raised limit.
  const asEjabberd = Number.isInteger(uid) && tryRun('setpriv', ['--version']) !== undefined;
  const proc = spawnPinned(
    asEjabberd ? 'setpriv' : 'ejabberdctl',
    [
      ...(asEjabberd ? ['--reuid=ejabberd', '--regid=ejabberd', '--init-groups', 'ejabberdctl'] : []),
      '--config-dir',
      dir,
      '--config',
      join(dir, 'ejabberd.yml'),
      '--ctl-config',
      join(dir, 'ejabberdctl.cfg'),
      '--logs',
      join(dir, 'logs'),
      '--spool',
      join(dir, 'spool'),
      'foreground',
    ],
    { cpu: SERVER_CPU, cwd: dir, ...(asEjabberd ? { env: { HOME: dir, USER: 'ejabberd' } } : {}) },
  );
  await waitPort(port, 60_000, proc);
  return { proc, port };
}

function prosodyConfig(dir: string, port: number, durable: boolean): string {
  const q = (s: string) => JSON.stringify(s);
  return `-- Generated by npm run bench -- compare: loopback, plain TCP, no rate limits, open registration.
run_as_root = true
daemonize = false
pidfile = ${q(join(dir, 'prosody.pid'))}
data_path = ${q(join(dir, 'data'))}
log = { warn = ${q(join(dir, 'prosody.log'))} }
network_backend = "epoll"
tcp_backlog = 4096
interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = true
min_seconds_between_registrations = 0
registration_whitelist = { "127.0.0.1", "::1" }
authentication = "internal_hashed"
-- mod_limits (c2s rate limits) is not loaded.
modules_enabled = { "roster", "saslauth", "disco", "register", "smacks"${durable ? ', "mam"' : ''} }
${
  durable
    ? `storage = { archive = "sql" }
sql = { driver = "SQLite3", database = ${q(join(dir, 'prosody.sqlite'))} }
default_archive_policy = true
archive_expires_after = "never"
`
    : ''
}
VirtualHost "${DOMAIN}"
`;
}

async function startProsody(dir: string, durable: boolean): Promise<XmppServer> {
  const port = await freePort();
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'prosody.cfg.lua');
  writeFileSync(config, prosodyConfig(dir, port, durable));
  const proc = spawnPinned('prosody', ['-F', '--config', config], { cpu: SERVER_CPU, cwd: dir });
  await waitPort(port, 30_000, proc);
  return { proc, port };
}

export function xmppTarget(kind: 'ejabberd' | 'prosody', opts: TargetOptions): Target {
  let server: XmppServer | undefined;
  let run = '';
  return {
    name: kind === 'ejabberd' ? 'ejabberd' : 'Prosody',
    storage: opts.durable
      ? 'MAM archive on SQLite (both sides of every message)'
      : kind === 'ejabberd'
        ? 'in memory (Mnesia accounts, no archive)'
        : 'in memory (file accounts, no archive)',
    async start() {
      run = Math.random().toString(36).slice(2, 8);
      server =
        kind === 'ejabberd'
          ? await startEjabberd(opts.dir, opts.durable)
          : await startProsody(opts.dir, opts.durable);
    },
    pids: () => (server === undefined ? [] : [server.proc.pid]),
    async register(i) {
      if (server === undefined) throw new Error('not started');
      await register(server.port, `u${run}_${i}`);
    },
    async connect(i, onMessage) {
      if (server === undefined) throw new Error('not started');
      return XmppBenchClient.connect(server.port, `u${run}_${i}`, onMessage);
    },
    async pair(a, b) {
      return [{ address: b.address }, { address: a.address }];
    },
    async stop() {
      await server?.proc.stop();
      server = undefined;
    },
    log: () => server?.proc.output() ?? '',
  };
}
