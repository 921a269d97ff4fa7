/**
 * The rig's server, started inside the server namespace (`ip netns exec`): the app, HTTPS with a
 * self-signed certificate, the WebSocket and TURN over TLS on port 443 of every address there (so
 * both fronts reach it), TURN over UDP and TCP on 3478, relaying between the rig's addresses (which
 * are private, so the relay must be told they are allowed). Prints one `ready` line.
 * argv: DATA_DIR PROXY_ADDRESS FRONT_URL...
 */
import { startServer } from '@kolokol/server';

const [dataDir = '', proxyAddress = '', ...fronts] = process.argv.slice(2);
const server = await startServer({
  host: '0.0.0.0',
  port: 443,
  dataDir,
  logLevel: 'warn',
  tls: {},
  turn: {
    udpPort: 3478,
    tcpPort: 3478,
    relayAddress: fronts[0] === undefined ? '10.77.2.2' : new URL(fronts[0]).hostname,
    allowedPeerCidrs: ['10.77.2.0/24'],
  },
  proxyProtocolFrom: [proxyAddress],
  fronts,
  // Every person of the matrix signs up from the one client address.
  rateLimits: { registrationsPerIp: 10_000 },
});
process.stdout.write(`ready ${server.port}\n`);
const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
