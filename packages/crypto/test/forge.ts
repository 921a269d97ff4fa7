/**
 * Test-only forgeries that go around our layer and call ts-mls directly, with its default
 * authentication service (which accepts anything): what a malicious or buggy client could send.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  type ClientState,
  createCommit,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type KeyPackage,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { encodeMemberIdentity, type Group, type MemberIdentity } from '../src/index.ts';

export const suite = () =>
  getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));

/** A key package with any credential, signed by any key. */
export async function forgeKeyPackage(member: MemberIdentity, signKey: Uint8Array): Promise<Uint8Array> {
  const cs = await suite();
  const { publicPackage } = await generateKeyPackageWithKey(
    { credentialType: 'basic', identity: encodeMemberIdentity(member) },
    defaultCapabilities(),
    defaultLifetime,
    [],
    { signKey, publicKey: ed25519.getPublicKey(signKey) },
    cs,
  );
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage });
}

/** The raw ts-mls state behind a Group, with ts-mls's accept-all authentication service. */
export function rawState(group: Group): ClientState {
  const bytes = group.encode();
  const decoded = decodeGroupState(bytes, 1);
  if (decoded === undefined) throw new Error('state does not decode');
  return { ...decoded[0], clientConfig: defaultClientConfig };
}

function keyPackageOf(bytes: Uint8Array): KeyPackage {
  const m = decodeMlsMessage(bytes, 0)?.[0];
  if (m?.wireformat !== 'mls_key_package') throw new Error('not a key package');
  return m.keyPackage;
}

/** A commit (and welcome) adding the given key packages, built without any credential checks. */
export async function forgeAddCommit(
  group: Group,
  keyPackages: Uint8Array[],
): Promise<{ commit: Uint8Array; welcome: Uint8Array }> {
  const cs = await suite();
  const r = await createCommit(
    { state: rawState(group), cipherSuite: cs },
    {
      extraProposals: keyPackages.map((kp) => ({
        proposalType: 'add',
        add: { keyPackage: keyPackageOf(kp) },
      })),
      ratchetTreeExtension: true,
    },
  );
  if (r.welcome === undefined) throw new Error('no welcome');
  return {
    commit: encodeMlsMessage(r.commit),
    welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome }),
  };
}
