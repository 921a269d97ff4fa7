import { bytesEqual } from './bytes.ts';
import { decodeMemberIdentity, type MemberIdentity } from './credential.ts';
import { err, ok, type Result } from './errors.ts';
import { verifyDeviceCert } from './identity.ts';

/**
 * The identity keys this device trusts, one per user: pinned on first contact or verified with a
 * safety number. `undefined` means the user is unknown and every credential claiming it is refused.
 */
export interface IdentityDirectory {
  trustedIdentityKey(userId: string): Promise<Uint8Array | undefined>;
}

/**
 * Checks a credential from an MLS leaf (key package, commit path, welcome tree) and returns the
 * member it names. Rules: a basic credential; a canonical MemberIdentity; its identity key equal to
 * the one we pin for its user; its device key equal to the leaf's signature key; its certificate
 * valid under the identity key.
 */
export async function checkCredential(
  dir: IdentityDirectory,
  credential: unknown,
  signaturePublicKey: Uint8Array,
): Promise<Result<MemberIdentity>> {
  const identity = basicIdentity(credential);
  if (identity === undefined) return err('UNTRUSTED_CREDENTIAL', 'credential is not a basic credential');
  const decoded = decodeMemberIdentity(identity);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  let pinned: Uint8Array | undefined;
  try {
    pinned = await dir.trustedIdentityKey(m.userId);
  } catch (e) {
    return err('UNTRUSTED_CREDENTIAL', 'identity directory failed', e);
  }
  if (pinned === undefined) return err('UNTRUSTED_CREDENTIAL', `unknown user ${m.userId}`);
  if (!bytesEqual(pinned, m.identityKey))
    return err('UNTRUSTED_CREDENTIAL', `identity key of ${m.userId} changed`);
  if (!bytesEqual(m.deviceKey, signaturePublicKey))
    return err('UNTRUSTED_CREDENTIAL', 'device key is not the leaf signature key');
  if (!verifyDeviceCert(m.identityKey, m.deviceId, m.deviceKey, m.issuedAt, m.cert))
    return err('UNTRUSTED_CREDENTIAL', 'device certificate does not verify');
  return ok(m);
}

/** The identity bytes of a basic credential, or undefined for anything else. */
export function basicIdentity(credential: unknown): Uint8Array | undefined {
  if (typeof credential !== 'object' || credential === null) return undefined;
  if (!('credentialType' in credential) || credential.credentialType !== 'basic') return undefined;
  if (!('identity' in credential) || !(credential.identity instanceof Uint8Array)) return undefined;
  return credential.identity;
}

/**
 * Our MLS authentication service. ts-mls's default accepts every credential, so every ClientConfig
 * we build carries this one instead.
 */
export function createAuthService(dir: IdentityDirectory): {
  validateCredential(credential: unknown, signaturePublicKey: Uint8Array): Promise<boolean>;
} {
  return {
    async validateCredential(credential: unknown, signaturePublicKey: Uint8Array): Promise<boolean> {
      return (await checkCredential(dir, credential, signaturePublicKey)).ok;
    },
  };
}
