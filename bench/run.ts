/**
 * `npm run bench -- <name> [options]`. Benchmarks are not part of `npm test`: they take minutes
 * and their numbers only mean something on a quiet machine.
 */
import { runCalls } from './calls.ts';
import { runCompare } from './compare/index.ts';
import { runDelivery } from './delivery.ts';

const benches: Record<string, { about: string; run: (args: string[]) => Promise<void> }> = {
  delivery: {
    about: 'server delivery latency and throughput over raw WebSocket (see bench/README.md)',
    run: runDelivery,
  },
  calls: {
    about:
      'call setup time (turns: relay and direct) in Chromium, TURN relay packets/s per core (see bench/README.md)',
    run: runCalls,
  },
  compare: {
    about:
      'Kolokol vs ejabberd vs Prosody (and a Kolokol cluster): idle memory per connection, max rate at p99 <= 100 ms (see bench/README.md)',
    run: runCompare,
  },
};

const [name, ...rest] = process.argv.slice(2);
const bench = name === undefined ? undefined : benches[name];
if (bench === undefined) {
  process.stderr.write(`usage: npm run bench -- <name> [options]\n`);
  for (const [n, b] of Object.entries(benches)) process.stderr.write(`  ${n.padEnd(10)} ${b.about}\n`);
  process.exit(2);
}
try {
  await bench.run(rest);
} catch (e) {
  process.stderr.write(`bench ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
