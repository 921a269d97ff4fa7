/**
 * SFrame throughput per cipher suite: encrypt + decrypt of 1 KB and 10 KB frames through
 * SFrameContext (header, AAD, replay window included). Not a test; numbers depend on the machine.
 *
 *   npx node packages/crypto/bench/sframe.ts [seconds per cell, default 0.5]
 */
import { SFrameContext, sframeSuites } from '../src/index.ts';

const seconds = Number(process.argv[2] ?? 0.5);
const metadata = new Uint8Array(12);
const rows: Record<string, string | number>[] = [];

for (const suite of sframeSuites()) {
  for (const size of [1024, 10 * 1024]) {
    const baseKey = crypto.getRandomValues(new Uint8Array(suite.nk));
    const tx = new SFrameContext({ suite: suite.id, allowDraftSuites: true });
    const rx = new SFrameContext({ suite: suite.id, allowDraftSuites: true, replayWindow: 1024 });
    tx.addSendKey(0x1234n, baseKey);
    rx.addReceiveKey(0x1234n, baseKey);
    const pt = crypto.getRandomValues(new Uint8Array(size));
    for (let i = 0; i < 200; i++) rx.decrypt(metadata, tx.encrypt(0x1234n, metadata, pt)); // warm up

    let n = 0;
    let t0 = performance.now();
    const frames: Uint8Array[] = [];
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < 50; i++) frames.push(tx.encrypt(0x1234n, metadata, pt));
      n += 50;
    }
    const encPerS = n / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (const f of frames) {
      const r = rx.decrypt(metadata, f);
      if (!r.ok) throw r.error;
    }
    const decPerS = frames.length / ((performance.now() - t0) / 1000);
    rows.push({
      suite: suite.name,
      frame: `${size / 1024} KB`,
      'encrypt frames/s': Math.round(encPerS),
      'decrypt frames/s': Math.round(decPerS),
      'encrypt MB/s': ((encPerS * size) / 1e6).toFixed(1),
    });
  }
}
console.table(rows);
