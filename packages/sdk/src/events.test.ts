import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypedEmitter } from './events.ts';

class E extends TypedEmitter<{ a: [number]; b: [string, boolean] }> {
  fire<K extends 'a' | 'b'>(k: K, ...args: { a: [number]; b: [string, boolean] }[K]) {
    this.emit(k, ...args);
  }
}

describe('TypedEmitter', () => {
  it('on/off/once/waitFor', async () => {
    const e = new E();
    const got: number[] = [];
    const fn = (n: number) => got.push(n);
    e.on('a', fn);
    e.once('a', (n) => got.push(n * 10));
    e.fire('a', 1);
    e.fire('a', 2);
    e.off('a', fn);
    e.fire('a', 3);
    assert.deepEqual(got, [1, 10, 2]);
    const w = e.waitFor('b', (s) => s === 'yes');
    e.fire('b', 'no', false);
    e.fire('b', 'yes', true);
    assert.deepEqual(await w, ['yes', true]);
    await assert.rejects(
      e.waitFor('a', () => true, 10),
      /timed out/,
    );
  });

  it('a throwing listener does not stop the others', () => {
    const e = new E();
    let called = false;
    const orig = console.error;
    console.error = () => {};
    try {
      e.on('a', () => {
        throw new Error('boom');
      });
      e.on('a', () => {
        called = true;
      });
      e.fire('a', 1);
    } finally {
      console.error = orig;
    }
    assert.ok(called);
  });
});
