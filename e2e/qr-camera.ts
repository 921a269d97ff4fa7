/**
 * Filming a QR code that one person's screen shows with another person's camera: the picture is
 * read from the page as the browser drew it, and Chromium plays it back as the camera
 * (`--use-file-for-fake-video-capture`). Unlike writeQrVideo (qr-video.ts), nothing is re-encoded
 * from the text, so what is scanned is what the app rendered.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

export interface Picture {
  width: number;
  height: number;
  /** Grayscale, 0..255, row by row. */
  luma: number[];
}

/**
 * A Y4M video of `picture` in the middle of a light frame. The file is replaced, never rewritten in
 * place: Chromium opens it again each time a page starts the camera, so a browser that is already
 * running films the new picture from its next capture on, while a capture still open keeps reading
 * the old file.
 */
export function writePictureVideo(picture: Picture, path: string, scale = 2): void {
  const width = 640;
  const height = 480;
  const y = new Uint8Array(width * height).fill(235);
  const x0 = Math.floor((width - picture.width * scale) / 2);
  const y0 = Math.floor((height - picture.height * scale) / 2);
  for (let r = 0; r < picture.height * scale; r++)
    for (let c = 0; c < picture.width * scale; c++) {
      const v = picture.luma[Math.floor(r / scale) * picture.width + Math.floor(c / scale)] ?? 255;
      // Video luma runs 16..235.
      y[(y0 + r) * width + x0 + c] = 16 + Math.round((v * 219) / 255);
    }
  const chroma = new Uint8Array((width / 2) * (height / 2)).fill(128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`);
  const partial = `${path}.partial`;
  writeFileSync(partial, Buffer.concat([header, ...Array.from({ length: 5 }, () => frame)]));
  renameSync(partial, path);
}

/** The grayscale pixels of the <img> named `name`, exactly as the page shows it. */
export async function pixelsOf(page: Page, name: string): Promise<Picture> {
  const img = page.getByRole('img', { name, exact: true });
  // The QR is drawn asynchronously; an image still loading would read as a blank picture.
  await img.evaluate((el) => (el as HTMLImageElement).decode());
  return img.evaluate((el) => {
    const img = el as HTMLImageElement;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    if (ctx === null) throw new Error('no 2d context');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const luma: number[] = [];
    for (let i = 0; i < d.length; i += 4)
      luma.push(Math.round(0.299 * (d[i] ?? 0) + 0.587 * (d[i + 1] ?? 0) + 0.114 * (d[i + 2] ?? 0)));
    return { width: canvas.width, height: canvas.height, luma };
  });
}
