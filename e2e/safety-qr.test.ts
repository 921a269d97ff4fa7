/**
 * Verifying a safety number with the camera (issue 3): Bob films the QR code on Alice's Safety
 * screen, and his app compares it with the number it computed from the keys it holds. The pasted
 * code is covered in messenger.test.ts; here the code goes through a real picture, Chromium's fake
 * camera and the app's jsQR scanner.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { safetyNumber } from '@kolokol/crypto';
import type { Browser } from 'playwright-core';
import { safetyQrText } from '../apps/web/src/lib/safety.ts';
import {
  type App,
  chatBetween,
  gone,
  hasChromium,
  launchChromium,
  type Person,
  signUp,
  startApp,
  visible,
} from './helpers.ts';
import { pixelsOf, writePictureVideo } from './qr-camera.ts';
import { writeQrVideo } from './qr-video.ts';

describe('safety numbers by camera', {
  skip: !hasChromium && 'no /usr/bin/chromium',
  concurrency: false,
}, () => {
  let app: App;
  let alice: Person;
  let bob: Person;
  let camera: Browser | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-e2e-safety-qr-'));
  const video = join(dir, 'camera.y4m');

  const safety = (p: Person) => p.page.getByRole('region', { name: 'Safety number' });
  const mismatch = (p: Person) =>
    safety(p).getByRole('alert').filter({ hasText: 'This code does not match.' });
  const scanner = (p: Person) => p.page.getByRole('dialog', { name: 'Scan a QR code' });

  before(async () => {
    app = await startApp();
    // A well-formed safety number of two other keys, as a man in the middle would show: the app has
    // to compare it, not merely fail to parse it.
    const other = safetyNumber(
      { userId: 'alice', identityKey: randomBytes(32) },
      { userId: 'bob', identityKey: randomBytes(32) },
    );
    // Bob's camera must exist before his account does (the number depends on his keys), so it
    // starts on this picture and is given Alice's real code later.
    writeQrVideo(safetyQrText(other.qr), video);
    camera = await launchChromium([`--use-file-for-fake-video-capture=${video}`]);
    alice = await signUp(app, 'alice', 'Alice');
    bob = await signUp({ ...app, browser: camera }, 'bob', 'Bob');
    await bob.context.grantPermissions(['camera']);
    await chatBetween(alice, bob, 'shall we check our safety number?');
  });
  after(async () => {
    await camera?.close();
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a QR code of a different safety number is reported as a mismatch', async () => {
    await bob.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    await visible(safety(bob).getByRole('list', { name: 'Safety number digits' }));
    await safety(bob).getByRole('button', { name: 'Scan their code' }).click();
    await visible(mismatch(bob), 60_000);
    await gone(scanner(bob));
    await visible(
      safety(bob)
        .getByRole('status')
        .filter({ hasText: /^\s*You have not verified alice yet\.$/i }),
    );
    await visible(safety(bob).getByRole('button', { name: 'Mark as verified' }));
    await bob.page.getByRole('button', { name: 'Back' }).first().click();
    await visible(bob.page.getByRole('link', { name: 'End-to-end encrypted' }));
    await gone(bob.page.getByRole('link', { name: 'Verified' }), 1000);
  });

  test('Bob films the QR on Alice’s Safety screen: the codes match and Alice is verified', async () => {
    await alice.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    writePictureVideo(await pixelsOf(alice.page, 'QR code of your safety number'), video);

    await bob.page.getByRole('link', { name: 'End-to-end encrypted' }).click();
    await safety(bob).getByRole('button', { name: 'Scan their code' }).click();
    await visible(
      safety(bob)
        .getByRole('status')
        .filter({ hasText: /^\s*The codes match\. alice is verified\.$/i }),
      60_000,
    );
    await gone(scanner(bob));
    await gone(mismatch(bob), 1000);
    await visible(safety(bob).getByRole('button', { name: 'Clear verification' }));
    await bob.page.getByRole('button', { name: 'Back' }).first().click();
    await visible(bob.page.getByRole('link', { name: 'Verified' }));
    // Verifying is Bob's own judgement: Alice has not checked Bob, and her app must not say so.
    await visible(
      safety(alice)
        .getByRole('status')
        .filter({ hasText: /^\s*You have not verified bob yet\.$/i }),
    );
  });
});
