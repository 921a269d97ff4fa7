import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkCodeAsPositional } from './cli.ts';

test('a link code that starts with "-" is taken as the code, not as options', () => {
  const code = '-QRSZMS5uftMqJXj3UCXzw.smMg3ANRpyBa18f0JxMvPtS0pBM2Ex4qt1R6UYSXD3E';
  assert.deepEqual(linkCodeAsPositional(['--server', 'http://x', '--home', 'd', 'link', code]), [
    '--server',
    'http://x',
    '--home',
    'd',
    'link',
    '--',
    code,
  ]);
  assert.deepEqual(linkCodeAsPositional(['--home', 'd', 'link', 'ABC.def']), [
    '--home',
    'd',
    'link',
    'ABC.def',
  ]);
  assert.deepEqual(
    linkCodeAsPositional(['link', '--help']),
    ['link', '--help'],
    'our own options stay options',
  );
  assert.deepEqual(linkCodeAsPositional(['send', 'bob', '-x']), ['send', 'bob', '-x'], 'only after link');
});
