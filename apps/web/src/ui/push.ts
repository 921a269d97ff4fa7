/**
 * Web Push (VAPID): the service worker gets an empty push and shows "New message"; the payload
 * carries nothing, so the push service learns nothing. Needs the SDK's push methods.
 */
import type { Messenger } from '../messenger.ts';
import { ext } from '../sdk/ext.ts';

function keyBytes(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(b64url.length / 4) * 4, '=');
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function pushState(m: Messenger): Promise<'unsupported' | 'denied' | 'off' | 'on'> {
  const x = ext(m.client);
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || x.pushPublicKey === undefined)
    return 'unsupported';
  if ((await x.pushPublicKey().catch(() => undefined)) === undefined) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  return sub === null || sub === undefined ? 'off' : 'on';
}

export async function subscribePush(m: Messenger): Promise<'denied' | 'on' | 'unsupported'> {
  const x = ext(m.client);
  if (x.pushPublicKey === undefined || x.registerPush === undefined) return 'unsupported';
  const key = await x.pushPublicKey();
  if (key === undefined) return 'unsupported';
  if ((await Notification.requestPermission()) !== 'granted') return 'denied';
  const reg = await navigator.serviceWorker.ready;
  const sub = (
    await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) })
  ).toJSON();
  const p256dh = sub.keys?.p256dh;
  const auth = sub.keys?.auth;
  if (sub.endpoint === undefined || p256dh === undefined || auth === undefined) return 'unsupported';
  await x.registerPush({ endpoint: sub.endpoint, keys: { p256dh, auth } });
  return 'on';
}

export async function unsubscribePush(m: Messenger): Promise<'off'> {
  const reg = await navigator.serviceWorker?.getRegistration();
  const sub = await reg?.pushManager.getSubscription();
  await sub?.unsubscribe();
  await ext(m.client).unregisterPush?.();
  return 'off';
}
