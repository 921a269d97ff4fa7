/** Opening and erasing this browser's account: the SDK store in IndexedDB plus our localStorage keys. */
import { IndexedDbStore, KolokolClient, SdkError } from '@kolokol/sdk';

export const DB_NAME = 'kolokol';

export async function openStore(): Promise<IndexedDbStore> {
  return IndexedDbStore.open(DB_NAME);
}

export async function openClient(store: IndexedDbStore): Promise<KolokolClient | undefined> {
  try {
    return await KolokolClient.open({ store });
  } catch (e) {
    if (e instanceof SdkError && e.code === 'NOT_REGISTERED') return undefined;
    throw e;
  }
}

/** A readable device name for the device list: "Chrome on Linux". */
export function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os === '' ? browser : `${browser} · ${os}`;
}

/** Erases every trace of the account in this browser, then starts the app afresh. */
export async function wipeAndReload(store: { close(): Promise<void> } | undefined): Promise<void> {
  await store?.close().catch(() => {});
  await new Promise<void>((resolve) => {
    const r = indexedDB.deleteDatabase(DB_NAME);
    r.onsuccess = () => resolve();
    r.onerror = () => resolve();
    r.onblocked = () => resolve();
  });
  for (const k of Object.keys(localStorage)) if (k.startsWith('kolokol:local:')) localStorage.removeItem(k);
  location.hash = '#/';
  location.reload();
}
