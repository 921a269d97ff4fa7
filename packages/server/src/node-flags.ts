/**
 * Flags for the node process that runs the server (`npm start`, the benchmarks; other launchers
 * should pass them too, e.g. NODE_OPTIONS in a service unit; see README "Memory").
 *
 * `--max-semi-space-size=16`: V8 doubles its young generation while many objects survive, and a
 * burst of connections (each leaves a few KB of long-lived state) took it from 64 to 128 MiB, RSS
 * that it keeps: 16 KB per idle connection at 5,000 connections instead of 4-6 KB. Capped at 16
 * MiB per semi-space, measured throughput did not change.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
