/**
 * The server process for benchmarks: packages/server/src/main.ts's flags and "listening" line,
 * with the per-IP limits (registrations, logins, key-package claims, sockets that have not said
 * hello yet) lifted, since every simulated client comes from 127.0.0.1, and the TURN relay allowed
 * to relay to loopback peers, since every simulated call peer sits on this machine too (relayed
 * addresses are 127.0.0.1). Everything else is the production configuration.
 */
import { loadConfig, startServer } from '@kolokol/server';

const config = loadConfig(process.argv.slice(2), process.env);
const server = await startServer({
  ...config,
  rateLimits: {
    ...config.rateLimits,
    registrationsPerIp: 1_000_000,
    challengesPerDevice: 1_000_000,
    challengesUnknownPerIp: 1_000_000,
    claimsPerClaimer: 1_000_000,
    claimsPerPair: 1_000_000,
  },
  tuning: { ...config.tuning, maxUnauthenticatedPerIp: 1_000_000 },
  turn: config.turn === false ? false : { ...config.turn, allowLoopbackPeers: true },
});
process.stdout.write(`Kolokol listening on ${server.plainUrl ?? server.url}\n`);
const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
