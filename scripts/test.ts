/**
 * `npm test`: every test in the repository, on Node's own runner (node:test), which runs our .ts
 * files directly. Two workers because the machines have two cores. Extra arguments narrow the run
 * to the given files or folders: `npm test -- packages/crypto`.
 */
import { spawn } from 'node:child_process';
import { globSync, statSync } from 'node:fs';

const patterns = [
  'packages/*/src/**/*.test.ts',
  'packages/*/test/**/*.test.ts',
  'apps/*/src/**/*.test.ts',
  'apps/*/test/**/*.test.ts',
  'e2e/**/*.test.ts',
];

const args = process.argv.slice(2);
let files: string[];
if (args.length > 0) {
  files = args.flatMap((a) =>
    statSync(a, { throwIfNoEntry: false })?.isDirectory()
      ? globSync(`${a.replace(/\/$/, '')}/**/*.test.ts`)
      : [a],
  );
} else {
  files = patterns.flatMap((p) => globSync(p, { exclude: (f) => f.includes('node_modules') }));
}
files = [...new Set(files)].sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=300000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
