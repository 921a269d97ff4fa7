/** Community proxies as fronts of the server (packages/sdk/src/fronts.ts), from any screen. */
import { type ProxyLink, proxyFront } from '@kolokol/sdk';
import type { Messenger } from '../messenger.ts';

/** Adds a proxy as a front of this device's server; says what happened in a toast. */
export async function addProxy(m: Messenger, proxy: ProxyLink): Promise<boolean> {
  const front = proxyFront(proxy);
  try {
    const added = await m.client.addFront(front);
    m.toast(m.t(added ? 'network.added' : 'network.known', { front }), 'info');
    return added;
  } catch (e) {
    m.toast(m.errorText(e), 'error');
    return false;
  }
}
