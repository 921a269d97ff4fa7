/**
 * A fake camera that shows a QR code: Chromium plays a Y4M file as the camera
 * (`--use-file-for-fake-video-capture`), so the app's jsQR scanner reads a real picture.
 */
import { writeFileSync } from 'node:fs';
import QRCode from 'qrcode';

export function writeQrVideo(text: string, path: string, width = 640, height = 480): void {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const quiet = 4;
  const scale = Math.floor(Math.min(width, height) / (n + 2 * quiet));
  const side = scale * (n + 2 * quiet);
  const x0 = Math.floor((width - side) / 2);
  const y0 = Math.floor((height - side) / 2);
  const y = new Uint8Array(width * height).fill(235);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++) {
      if (qr.modules.data[r * n + c] !== 1) continue;
      for (let dy = 0; dy < scale; dy++) {
        const row = y0 + (quiet + r) * scale + dy;
        y.fill(16, row * width + x0 + (quiet + c) * scale, row * width + x0 + (quiet + c + 1) * scale);
      }
    }
  const chroma = new Uint8Array((width / 2) * (height / 2)).fill(128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`);
  writeFileSync(path, Buffer.concat([header, ...Array.from({ length: 5 }, () => frame)]));
}
