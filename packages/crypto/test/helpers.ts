import { toB64 } from '@kolokol/protocol';
import { randomBytes } from '../src/bytes.ts';
import {
  certifyDevice,
  type DeviceKeys,
  generateIdentity,
  generateKeyPackages,
  type IdentityDirectory,
  type IdentityKeyPair,
  type KeyPackageBundle,
  type MlsContext,
} from '../src/index.ts';

/** A directory backed by a map the test can change (re-pinning, forgetting users). */
export class MapDirectory implements IdentityDirectory {
  readonly keys = new Map<string, Uint8Array>();
  async trustedIdentityKey(userId: string): Promise<Uint8Array | undefined> {
    return this.keys.get(userId);
  }
}

export interface TestUser {
  userId: string;
  identity: IdentityKeyPair;
}

export interface TestDevice {
  ctx: MlsContext;
  user: TestUser;
  device: DeviceKeys;
  directory: MapDirectory;
  /** Key packages this device published, by ref, as the SDK would persist them. */
  store: Map<string, KeyPackageBundle>;
}

export function newUser(name: string): TestUser {
  return { userId: `${name}-${toB64(randomBytes(6))}`, identity: generateIdentity() };
}

/** A device that trusts every user in `known` (plus its own user). */
export function newDevice(user: TestUser, known: TestUser[] = []): TestDevice {
  const device = certifyDevice(user.identity);
  const directory = new MapDirectory();
  for (const u of [user, ...known]) directory.keys.set(u.userId, u.identity.publicKey);
  return {
    ctx: { userId: user.userId, device, identityKey: user.identity.publicKey, directory },
    user,
    device,
    directory,
    store: new Map(),
  };
}

export async function publishKeyPackage(d: TestDevice, lastResort = false): Promise<Uint8Array> {
  const [kp] = await generateKeyPackages(d.ctx, 1, { lastResort });
  if (kp === undefined) throw new Error('no key package');
  d.store.set(kp.ref, kp);
  return kp.publicBytes;
}

export const finder =
  (d: TestDevice) =>
  async (ref: string): Promise<KeyPackageBundle | undefined> =>
    d.store.get(ref);

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Unwraps a Result in tests, failing with the error's code and message. */
export function must<T>(
  r: { ok: true; value: T } | { ok: false; error: { code: string; message: string } },
): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}
