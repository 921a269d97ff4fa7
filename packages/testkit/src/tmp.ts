import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** KOLOKOL_KEEP_DATA=1 keeps temporary folders for a post-mortem; the path is printed instead. */
export const keepData = (): boolean => {
  const v = process.env.KOLOKOL_KEEP_DATA;
  return v !== undefined && v !== '' && v !== '0';
};

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kolokol-${prefix}-`));
}

export async function removeTempDir(dir: string): Promise<void> {
  if (keepData()) {
    process.stderr.write(`KOLOKOL_KEEP_DATA: kept ${dir}\n`);
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
