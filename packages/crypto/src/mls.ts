/**
 * MLS (RFC 9420) through ts-mls, behind an interface that hides ts-mls's types, always installs
 * our authentication service, and turns every expected failure into a Result.
 *
 * Policy, beyond what ts-mls checks on its own:
 * - One cipher suite: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (id 1).
 * - Every leaf carries a basic credential holding a MemberIdentity (credential.ts) whose device key
 *   is the leaf's signature key and whose certificate verifies under the identity key the local
 *   directory pins for that user (auth.ts). ts-mls applies that rule to key packages, commit
 *   paths and welcome trees; we apply it again to every sender of every message we accept, so a
 *   user whose pinned key changed can no longer speak until the directory trusts it again.
 * - One leaf per (userId, deviceId).
 * - Only PrivateMessages are accepted and sent, so the server sees neither content nor membership
 *   changes beyond the cleartext header (group id, epoch, content type).
 */
import { fromB64, toB64 } from '@kolokol/protocol';
import {
  bytesToBase64,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  createApplicationMessage,
  createCommit,
  decodeGroupState,
  decodeMlsMessage,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  type KeyPackage,
  type LeafNode,
  type MLSMessage,
  createGroup as mlsCreateGroup,
  mlsExporter,
  type PrivateKeyPackage,
  type Proposal,
  type ProposalWithSender,
  processPrivateMessage,
} from 'ts-mls';
import {
  validateLeafNodeCredentialAndKeyUniqueness,
  validateLeafNodeUpdateOrCommit,
} from 'ts-mls/clientState.js';
import { extensionsSupportedByCapabilities } from 'ts-mls/extension.js';
import {
  decodeKeyPackage,
  encodeKeyPackage,
  makeKeyPackageRef,
  verifyKeyPackage,
} from 'ts-mls/keyPackage.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { checkCredential, createAuthService, type IdentityDirectory } from './auth.ts';
import { bytesEqual, concatBytes, wipe } from './bytes.ts';
import { decodeMemberIdentity, encodeMemberIdentity, type MemberIdentity } from './credential.ts';
import { CryptoError, type CryptoErrorCode, err, ok, type Result } from './errors.ts';
import type { DeviceKeys } from './identity.ts';

export interface MlsContext {
  userId: string;
  device: DeviceKeys;
  identityKey: Uint8Array;
  directory: IdentityDirectory;
}

export interface KeyPackageBundle {
  /** base64url KeyPackageRef (RFC 9420 §5.2) */
  ref: string;
  /** encoded MLSMessage(key_package), for the server */
  publicBytes: Uint8Array;
  /** our encoding of the private package (see encodePrivateBundle), to persist on this device only */
  privateBytes: Uint8Array;
  lastResort: boolean;
}

export interface CommitOutput {
  group: Group;
  commit: Uint8Array;
  welcome?: Uint8Array;
  added: MemberIdentity[];
  removed: MemberIdentity[];
}

export type Processed =
  | { kind: 'application'; group: Group; plaintext: Uint8Array; sender: MemberIdentity }
  | {
      kind: 'commit';
      group: Group;
      added: MemberIdentity[];
      removed: MemberIdentity[];
      removedSelf: boolean;
      sender: MemberIdentity | undefined;
    }
  | { kind: 'proposal'; group: Group };

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
/** draft-ietf-mls-extensions `last_resort` KeyPackage extension. */
const LAST_RESORT_EXTENSION = 0x000a;
/** Key packages expire after 90 days; the SDK replaces them well before. */
const KEY_PACKAGE_LIFETIME_S = 90n * 24n * 3600n;
const GROUP_STATE_VERSION = 1;
const PRIVATE_BUNDLE_VERSION = 1;

let suitePromise: Promise<CiphersuiteImpl> | undefined;
/** Created once: building the implementation imports HPKE modules. */
function suite(): Promise<CiphersuiteImpl> {
  suitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  return suitePromise;
}

function clientConfig(ctx: MlsContext): ClientConfig {
  return {
    keyRetentionConfig: defaultKeyRetentionConfig,
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: createAuthService(ctx.directory),
  };
}

function capabilities() {
  return {
    versions: ['mls10' as const],
    ciphersuites: [SUITE],
    extensions: [LAST_RESORT_EXTENSION],
    proposals: [],
    credentials: ['basic' as const],
  };
}

function ownIdentity(ctx: MlsContext): MemberIdentity {
  return {
    userId: ctx.userId,
    deviceId: ctx.device.deviceId,
    identityKey: ctx.identityKey,
    deviceKey: ctx.device.publicKey,
    issuedAt: ctx.device.issuedAt,
    cert: ctx.device.cert,
  };
}

const memberKey = (m: { userId: string; deviceId: string }): string => `${m.userId}\u0000${m.deviceId}`;

/** Set by Group's static block: module-private access to its state. */
let groupInternals: {
  make(state: ClientState, consumed: Uint8Array[]): Group;
  state(g: Group): ClientState;
  settle(g: Group): void;
};

/**
 * An MLS group as one device sees it at one epoch. Immutable: every operation returns a new Group
 * and leaves this one usable, so a caller can drop a result (e.g. a commit the server refused as
 * stale) and carry on from the previous state.
 *
 * Secret hygiene: ts-mls reports the secrets each step made obsolete ("consumed"). The old Group
 * still refers to them, so they cannot be wiped at once. We wipe them when the new Group is itself
 * used for a successful operation: at that point the caller has moved on, and the state two steps
 * back becomes unusable. Never go back more than one step.
 */
export class Group {
  readonly groupId: string;
  readonly epoch: number;
  #state: ClientState;
  #consumed: Uint8Array[];
  #members: MemberIdentity[] | undefined;

  static {
    groupInternals = {
      make: (state, consumed) => new Group(state, consumed),
      state: (g) => g.#state,
      settle: (g) => {
        wipe(...g.#consumed);
        g.#consumed = [];
      },
    };
  }

  private constructor(state: ClientState, consumed: Uint8Array[]) {
    this.#state = state;
    this.#consumed = consumed;
    this.groupId = toB64(state.groupContext.groupId);
    this.epoch = Number(state.groupContext.epoch);
  }

  /** Every device in the group, in leaf order (this device included). */
  members(): MemberIdentity[] {
    this.#members ??= leafMembers(this.#state).map(([, m]) => m);
    return [...this.#members];
  }

  /** Whether this device is still an active member (false once a commit removed it). */
  get active(): boolean {
    return this.#state.groupActiveState.kind === 'active';
  }

  /** Secret state for this device's storage only. Round-trips through decodeGroup. */
  encode(): Uint8Array {
    return concatBytes(new Uint8Array([GROUP_STATE_VERSION]), encodeGroupState(this.#state));
  }
}

/** Leaves whose credential decodes; all leaves in a group we accepted passed the auth service. */
function leafMembers(state: ClientState): [number, MemberIdentity][] {
  const out: [number, MemberIdentity][] = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (node?.nodeType !== 'leaf') return;
    const m = memberOfLeaf(node.leaf);
    if (m !== undefined) out.push([nodeIndex / 2, m]);
  });
  return out;
}

function memberOfLeaf(leaf: LeafNode): MemberIdentity | undefined {
  if (leaf.credential.credentialType !== 'basic') return undefined;
  const r = decodeMemberIdentity(leaf.credential.identity);
  return r.ok ? r.value : undefined;
}

function leafAt(state: ClientState, leafIndex: number): LeafNode | undefined {
  const node = state.ratchetTree[leafIndex * 2];
  return node?.nodeType === 'leaf' ? node.leaf : undefined;
}

function hasDuplicateDevices(members: { userId: string; deviceId: string }[]): boolean {
  return new Set(members.map(memberKey)).size !== members.length;
}

/** Turns what ts-mls throws on bad input into our codes. Anything else is a bug and rethrown. */
function fromMlsError(e: unknown, fallback: CryptoErrorCode): { ok: false; error: CryptoError } {
  if (e instanceof CryptoError) return { ok: false, error: e };
  if (!(e instanceof Error)) throw e;
  const name = e.constructor.name;
  const msg = e.message;
  if (name === 'InternalError' || e instanceof TypeError || e instanceof RangeError) {
    // ts-mls raises InternalError / TypeError for some malformed inputs too (e.g. indices out
    // of range in a tampered message): treat them as bad input rather than crashing the caller.
    return err('MALFORMED', `mls: ${msg}`, e);
  }
  if (/credential/i.test(msg)) return err('UNTRUSTED_CREDENTIAL', `mls: ${msg}`, e);
  if (/gen in the past/i.test(msg)) return err('REPLAY', 'mls: message already processed or key deleted', e);
  if (/epoch/i.test(msg)) return err('WRONG_EPOCH', `mls: ${msg}`, e);
  if (name === 'CodecError') return err('MALFORMED', `mls: ${msg}`, e);
  if (name === 'CryptoVerificationError') return err('BAD_SIGNATURE', `mls: ${msg}`, e);
  return err(fallback, `mls: ${msg}`, e);
}

/** Decodes exactly one MLSMessage filling all of `bytes`. */
function decodeMessage(bytes: Uint8Array): MLSMessage | undefined {
  try {
    const r = decodeMlsMessage(bytes, 0);
    if (r === undefined || r[1] !== bytes.length) return undefined;
    return r[0];
  } catch {
    return undefined;
  }
}

// --- key packages -------------------------------------------------------------------------------

/*
 * Private bundle encoding, version 1:
 *   u8 version || u32 len || KeyPackage (TLS) || u16 len || initPrivateKey || u16 len || hpkePrivateKey
 * The signature private key is not stored: it is the device key, which the caller already holds.
 */
function encodePrivateBundle(kp: KeyPackage, priv: PrivateKeyPackage): Uint8Array {
  const kpBytes = encodeKeyPackage(kp);
  const out = new Uint8Array(
    1 + 4 + kpBytes.length + 2 + priv.initPrivateKey.length + 2 + priv.hpkePrivateKey.length,
  );
  const view = new DataView(out.buffer);
  let off = 0;
  out[off++] = PRIVATE_BUNDLE_VERSION;
  view.setUint32(off, kpBytes.length);
  off += 4;
  out.set(kpBytes, off);
  off += kpBytes.length;
  for (const k of [priv.initPrivateKey, priv.hpkePrivateKey]) {
    view.setUint16(off, k.length);
    off += 2;
    out.set(k, off);
    off += k.length;
  }
  return out;
}

function decodePrivateBundle(
  bytes: Uint8Array,
): { keyPackage: KeyPackage; initPrivateKey: Uint8Array; hpkePrivateKey: Uint8Array } | undefined {
  if (bytes.length < 5 || bytes[0] !== PRIVATE_BUNDLE_VERSION) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 1;
  const kpLen = view.getUint32(off);
  off += 4;
  if (off + kpLen > bytes.length) return undefined;
  const kpBytes = bytes.subarray(off, off + kpLen);
  off += kpLen;
  let decoded: ReturnType<typeof decodeKeyPackage>;
  try {
    decoded = decodeKeyPackage(kpBytes, 0);
  } catch {
    return undefined;
  }
  if (decoded === undefined || decoded[1] !== kpLen) return undefined;
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 2; i++) {
    if (off + 2 > bytes.length) return undefined;
    const len = view.getUint16(off);
    off += 2;
    if (off + len > bytes.length) return undefined;
    keys.push(bytes.slice(off, off + len));
    off += len;
  }
  const [initPrivateKey, hpkePrivateKey] = keys;
  if (off !== bytes.length || !initPrivateKey || !hpkePrivateKey) return undefined;
  return { keyPackage: decoded[0], initPrivateKey, hpkePrivateKey };
}

async function newKeyPackage(ctx: MlsContext, lastResort: boolean) {
  const cs = await suite();
  const now = BigInt(Math.floor(Date.now() / 1000));
  return generateKeyPackageWithKey(
    { credentialType: 'basic', identity: encodeMemberIdentity(ownIdentity(ctx)) },
    capabilities(),
    // An hour of slack for clocks that run behind ours.
    { notBefore: now - 3600n, notAfter: now + KEY_PACKAGE_LIFETIME_S },
    lastResort ? [{ extensionType: LAST_RESORT_EXTENSION, extensionData: new Uint8Array(0) }] : [],
    { signKey: ctx.device.privateKey, publicKey: ctx.device.publicKey },
    cs,
  );
}

/** Fresh key packages for this device, signed with its device key. */
export async function generateKeyPackages(
  ctx: MlsContext,
  count: number,
  opts?: { lastResort?: boolean },
): Promise<KeyPackageBundle[]> {
  const cs = await suite();
  const lastResort = opts?.lastResort ?? false;
  const out: KeyPackageBundle[] = [];
  for (let i = 0; i < count; i++) {
    const { publicPackage, privatePackage } = await newKeyPackage(ctx, lastResort);
    out.push({
      ref: toB64(await makeKeyPackageRef(publicPackage, cs.hash)),
      publicBytes: encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_key_package',
        keyPackage: publicPackage,
      }),
      privateBytes: encodePrivateBundle(publicPackage, privatePackage),
      lastResort,
    });
  }
  return out;
}

async function checkKeyPackage(
  ctx: MlsContext,
  publicBytes: Uint8Array,
): Promise<Result<{ ref: string; member: MemberIdentity; keyPackage: KeyPackage }>> {
  const msg = decodeMessage(publicBytes);
  if (msg === undefined || msg.wireformat !== 'mls_key_package')
    return err('MALFORMED', 'not an encoded MLSMessage(key_package)');
  const kp = msg.keyPackage;
  if (msg.version !== 'mls10' || kp.version !== 'mls10' || kp.cipherSuite !== SUITE)
    return err('MALFORMED', 'key package: unsupported version or cipher suite');
  if (kp.leafNode.leafNodeSource !== 'key_package')
    return err('MALFORMED', 'key package: bad leaf node source');
  const cs = await suite();
  try {
    if (!(await verifyKeyPackage(kp, cs.signature)))
      return err('BAD_SIGNATURE', 'key package signature does not verify');
    if (!(await verifyLeafNodeSignatureKeyPackage(kp.leafNode, cs.signature)))
      return err('BAD_SIGNATURE', 'key package leaf node signature does not verify');
  } catch (e) {
    return fromMlsError(e, 'BAD_SIGNATURE');
  }
  if (bytesEqual(kp.initKey, kp.leafNode.hpkePublicKey)) return err('MALFORMED', 'init key equals leaf key');
  const now = BigInt(Math.floor(Date.now() / 1000));
  const lt = kp.leafNode.lifetime;
  if (lt.notBefore > now || lt.notAfter < now)
    return err('MALFORMED', 'key package expired or not yet valid');
  const member = await checkCredential(ctx.directory, kp.leafNode.credential, kp.leafNode.signaturePublicKey);
  if (!member.ok) return member;
  return ok({ ref: toB64(await makeKeyPackageRef(kp, cs.hash)), member: member.value, keyPackage: kp });
}

/** Parses a key package, checks its signatures, lifetime and credential. */
export async function inspectKeyPackage(
  ctx: MlsContext,
  publicBytes: Uint8Array,
): Promise<Result<{ ref: string; member: MemberIdentity }>> {
  const r = await checkKeyPackage(ctx, publicBytes);
  return r.ok ? ok({ ref: r.value.ref, member: r.value.member }) : r;
}

// --- group lifecycle ----------------------------------------------------------------------------

/** Restores a Group from Group.encode(); the state must belong to this context's device. */
export async function decodeGroup(ctx: MlsContext, bytes: Uint8Array): Promise<Result<Group>> {
  if (bytes[0] !== GROUP_STATE_VERSION) return err('MALFORMED', 'group state: unknown version');
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    // ts-mls decoders return [value, bytes consumed], not the end offset.
    decoded = decodeGroupState(bytes, 1);
  } catch (e) {
    return err('MALFORMED', 'group state does not decode', e);
  }
  if (decoded === undefined || decoded[1] !== bytes.length - 1)
    return err('MALFORMED', 'group state does not decode');
  const state: ClientState = { ...decoded[0], clientConfig: clientConfig(ctx) };
  const own = leafAt(state, state.privatePath.leafIndex);
  if (
    own === undefined ||
    state.groupContext.cipherSuite !== SUITE ||
    !bytesEqual(own.signaturePublicKey, ctx.device.publicKey) ||
    !bytesEqual(state.signaturePrivateKey, ctx.device.privateKey)
  )
    return err('MALFORMED', 'group state belongs to another device or suite');
  return ok(groupInternals.make(state, []));
}

/** A new group with this device as its only member, at epoch 0. */
export async function createGroup(ctx: MlsContext, groupId: string): Promise<Group> {
  const cs = await suite();
  const { publicPackage, privatePackage } = await newKeyPackage(ctx, false);
  const state = await mlsCreateGroup(
    fromB64(groupId),
    publicPackage,
    privatePackage,
    [],
    cs,
    clientConfig(ctx),
  );
  // The init key of our own key package is never used by a group we create.
  wipe(privatePackage.initPrivateKey);
  return groupInternals.make(state, []);
}

async function commit(
  ctx: MlsContext,
  group: Group,
  proposals: Proposal[],
  added: MemberIdentity[],
  removed: MemberIdentity[],
): Promise<Result<CommitOutput>> {
  const state = groupInternals.state(group);
  if (state.groupActiveState.kind !== 'active')
    return err('NOT_A_MEMBER', 'this device is no longer in the group');
  const pre = await preValidateProposals(ctx, state, [
    ...Object.values(state.unappliedProposals),
    ...proposals.map((proposal) => ({ proposal, senderLeafIndex: state.privatePath.leafIndex })),
  ]);
  if (!pre.ok) return pre;
  const cs = await suite();
  let result: Awaited<ReturnType<typeof createCommit>>;
  try {
    result = await createCommit(
      { state: { ...state, clientConfig: clientConfig(ctx) }, cipherSuite: cs },
      // The ratchet tree travels inside the Welcome's GroupInfo, so joiners need nothing else.
      { extraProposals: proposals, ratchetTreeExtension: true },
    );
  } catch (e) {
    return fromMlsError(e, 'UNTRUSTED_CREDENTIAL');
  }
  groupInternals.settle(group);
  const out: CommitOutput = {
    group: groupInternals.make(result.newState, result.consumed),
    commit: encodeMlsMessage(result.commit),
    added,
    removed,
  };
  if (result.welcome !== undefined)
    out.welcome = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome });
  return ok(out);
}

/**
 * Adds devices by their key packages. Each must pass inspectKeyPackage; one untrusted package
 * refuses the whole batch, so a caller cannot half-add a user by accident.
 */
export async function addMembers(
  ctx: MlsContext,
  group: Group,
  keyPackages: Uint8Array[],
): Promise<Result<CommitOutput>> {
  if (keyPackages.length === 0) return err('NO_KEY_PACKAGE', 'no key packages to add');
  const checked: { member: MemberIdentity; keyPackage: KeyPackage }[] = [];
  for (const bytes of keyPackages) {
    const r = await checkKeyPackage(ctx, bytes);
    if (!r.ok) return r;
    checked.push(r.value);
  }
  const added = checked.map((c) => c.member);
  if (hasDuplicateDevices([...group.members(), ...added]))
    return err('MALFORMED', 'a device would appear twice in the group');
  return commit(
    ctx,
    group,
    checked.map((c) => ({ proposalType: 'add', add: { keyPackage: c.keyPackage } })),
    added,
    [],
  );
}

/** Removes devices (by deviceId). This device cannot remove itself (MLS forbids it). */
export async function removeMembers(
  ctx: MlsContext,
  group: Group,
  deviceIds: string[],
): Promise<Result<CommitOutput>> {
  if (deviceIds.length === 0) return err('NOT_A_MEMBER', 'no devices to remove');
  const state = groupInternals.state(group);
  const leaves = leafMembers(state);
  const proposals: Proposal[] = [];
  const removed: MemberIdentity[] = [];
  for (const id of new Set(deviceIds)) {
    const hit = leaves.find(([, m]) => m.deviceId === id);
    if (hit === undefined) return err('NOT_A_MEMBER', `device ${id} is not in the group`);
    if (hit[0] === state.privatePath.leafIndex) return err('UNSUPPORTED', 'a device cannot remove itself');
    proposals.push({ proposalType: 'remove', remove: { removed: hit[0] } });
    removed.push(hit[1]);
  }
  return commit(ctx, group, proposals, [], removed);
}

/** An empty commit with a fresh path: new leaf and path keys, for post-compromise security. */
export async function selfUpdate(ctx: MlsContext, group: Group): Promise<Result<CommitOutput>> {
  return commit(ctx, group, [], [], []);
}

/**
 * Joins from a Welcome. `findKeyPackage` looks up our stored bundle by ref; the one used is
 * returned so the caller can delete it (unless it is the last-resort package).
 */
export async function joinFromWelcome(
  ctx: MlsContext,
  welcome: Uint8Array,
  findKeyPackage: (ref: string) => Promise<KeyPackageBundle | undefined>,
): Promise<Result<{ group: Group; usedRef: string }>> {
  const msg = decodeMessage(welcome);
  if (msg === undefined || msg.wireformat !== 'mls_welcome')
    return err('MALFORMED', 'not an encoded Welcome');
  if (msg.welcome.cipherSuite !== SUITE) return err('MALFORMED', 'welcome: unsupported cipher suite');
  let bundle: KeyPackageBundle | undefined;
  let usedRef = '';
  for (const s of msg.welcome.secrets) {
    usedRef = toB64(s.newMember);
    bundle = await findKeyPackage(usedRef);
    if (bundle !== undefined) break;
  }
  if (bundle === undefined) return err('NO_KEY_PACKAGE', 'welcome is for none of our key packages');
  const priv = decodePrivateBundle(bundle.privateBytes);
  if (priv === undefined) return err('MALFORMED', 'stored key package does not decode');
  if (!bytesEqual(priv.keyPackage.leafNode.signaturePublicKey, ctx.device.publicKey))
    return err('NO_KEY_PACKAGE', 'stored key package belongs to another device key');
  const cs = await suite();
  let state: ClientState;
  try {
    state = await joinGroup(
      msg.welcome,
      priv.keyPackage,
      {
        initPrivateKey: priv.initPrivateKey,
        hpkePrivateKey: priv.hpkePrivateKey,
        signaturePrivateKey: ctx.device.privateKey,
      },
      emptyPskIndex,
      cs,
      undefined,
      undefined,
      clientConfig(ctx),
    );
  } catch (e) {
    return fromMlsError(e, 'DECRYPT_FAILED');
  } finally {
    // Our decoded copy only; the bundle itself stays with the caller (a last-resort one is reused).
    wipe(priv.initPrivateKey);
  }
  if (hasDuplicateDevices(leafMembers(state).map(([, m]) => m)))
    return err('UNTRUSTED_CREDENTIAL', 'welcome tree holds a device twice');
  return ok({ group: groupInternals.make(state, []), usedRef });
}

/**
 * Runs, before ts-mls does, every check ts-mls applies to the Add and Update proposals of a
 * commit. Why: ts-mls 1.6 validates them inside an async Array.reduce, so when an early proposal
 * fails while a later one is still being checked, the early rejection sits unobserved and Node
 * reports an unhandledRejection, which by default kills the process. A malicious member could
 * crash every recipient with one commit. Refusing such commits here means ts-mls only ever
 * sees proposals that pass.
 */
async function preValidateProposals(
  ctx: MlsContext,
  state: ClientState,
  proposals: { proposal: Proposal; senderLeafIndex: number | undefined }[],
): Promise<Result<void>> {
  const cs = await suite();
  const gc = state.groupContext;
  for (const { proposal, senderLeafIndex } of proposals) {
    if (proposal.proposalType === 'add') {
      const kp = proposal.add.keyPackage;
      if (kp.cipherSuite !== gc.cipherSuite || kp.version !== gc.version)
        return err('MALFORMED', 'added key package: wrong suite or version');
      if (kp.leafNode.leafNodeSource !== 'key_package')
        return err('MALFORMED', 'added key package: bad leaf');
      const bad = await validateLeafNodeCredentialAndKeyUniqueness(state.ratchetTree, kp.leafNode);
      if (bad !== undefined) return err('MALFORMED', `added key package: ${bad.message}`);
      if (
        !(await verifyLeafNodeSignatureKeyPackage(kp.leafNode, cs.signature)) ||
        !(await verifyKeyPackage(kp, cs.signature))
      )
        return err('BAD_SIGNATURE', 'added key package: bad signature');
      if (!extensionsSupportedByCapabilities(kp.leafNode.extensions, kp.leafNode.capabilities))
        return err('MALFORMED', 'added key package: unsupported leaf extension');
      if (bytesEqual(kp.initKey, kp.leafNode.hpkePublicKey))
        return err('MALFORMED', 'added key package: init key reuse');
      const m = await checkCredential(ctx.directory, kp.leafNode.credential, kp.leafNode.signaturePublicKey);
      if (!m.ok) return m;
    } else if (proposal.proposalType === 'update') {
      if (senderLeafIndex === undefined) return err('MALFORMED', 'update without a sender');
      const leaf = proposal.update.leafNode;
      const bad =
        (await validateLeafNodeUpdateOrCommit(
          leaf,
          senderLeafIndex,
          gc,
          clientConfig(ctx).authService,
          cs.signature,
        )) ?? (await validateLeafNodeCredentialAndKeyUniqueness(state.ratchetTree, leaf, senderLeafIndex));
      if (bad !== undefined) return fromMlsError(bad, 'UNTRUSTED_CREDENTIAL');
    }
  }
  return ok(undefined);
}

// --- messages -----------------------------------------------------------------------------------

/** Encrypts an application message. Never encrypt twice from the same Group: use the new one. */
export async function encryptMessage(
  ctx: MlsContext,
  group: Group,
  plaintext: Uint8Array,
): Promise<Result<{ group: Group; message: Uint8Array }>> {
  const state = groupInternals.state(group);
  if (state.groupActiveState.kind !== 'active')
    return err('NOT_A_MEMBER', 'this device is no longer in the group');
  const cs = await suite();
  let r: Awaited<ReturnType<typeof createApplicationMessage>>;
  try {
    r = await createApplicationMessage({ ...state, clientConfig: clientConfig(ctx) }, plaintext, cs);
  } catch (e) {
    return fromMlsError(e, 'MALFORMED');
  }
  groupInternals.settle(group);
  return ok({
    group: groupInternals.make(r.newState, r.consumed),
    message: encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: r.privateMessage,
    }),
  });
}

/**
 * Processes one message for this group. Never throws on bad input: replays, messages for other
 * groups or epochs, forged or undecryptable ones, commits that add an untrusted device, and
 * messages from senders whose credential no longer checks out are all error Results, and `group`
 * stays valid.
 */
export async function processMessage(
  ctx: MlsContext,
  group: Group,
  message: Uint8Array,
): Promise<Result<Processed>> {
  const msg = decodeMessage(message);
  if (msg === undefined) return err('MALFORMED', 'not an encoded MLSMessage');
  if (msg.wireformat !== 'mls_private_message') return err('MALFORMED', 'only PrivateMessages are accepted');
  const pm = msg.privateMessage;
  const state = { ...groupInternals.state(group), clientConfig: clientConfig(ctx) };
  if (!bytesEqual(pm.groupId, state.groupContext.groupId))
    return err('UNKNOWN_GROUP', 'message is for another group');
  if (state.groupActiveState.kind !== 'active')
    return err('NOT_A_MEMBER', 'this device is no longer in the group');
  const current = state.groupContext.epoch;
  if (pm.epoch > current) return err('WRONG_EPOCH', `message for epoch ${pm.epoch}, we are at ${current}`);
  if (pm.contentType !== 'application' && pm.epoch !== current)
    return err('WRONG_EPOCH', `handshake message for old epoch ${pm.epoch}`);
  const cs = await suite();

  if (pm.contentType === 'commit') {
    // Decrypt once on the side (pure: the result is dropped) to vet the proposals; see
    // preValidateProposals for why ts-mls must not be the first to reject them.
    let commitContent: Awaited<ReturnType<typeof unprotectPrivateMessage>>['content'];
    try {
      commitContent = (
        await unprotectPrivateMessage(
          state.keySchedule.senderDataSecret,
          pm,
          state.secretTree,
          state.ratchetTree,
          state.groupContext,
          state.clientConfig.keyRetentionConfig,
          cs,
        )
      ).content;
    } catch (e) {
      return fromMlsError(e, 'DECRYPT_FAILED');
    }
    if (commitContent.content.contentType !== 'commit') return err('MALFORMED', 'content type mismatch');
    const sender = commitContent.content.sender;
    const listed: { proposal: Proposal; senderLeafIndex: number | undefined }[] = [];
    for (const p of commitContent.content.commit.proposals) {
      if (p.proposalOrRefType === 'proposal')
        listed.push({
          proposal: p.proposal,
          senderLeafIndex: sender.senderType === 'member' ? sender.leafIndex : undefined,
        });
      else {
        const known = state.unappliedProposals[bytesToBase64(p.reference)];
        if (known === undefined) return err('MALFORMED', 'commit references an unknown proposal');
        listed.push(known);
      }
    }
    const pre = await preValidateProposals(ctx, state, listed);
    if (!pre.ok) return pre;
  }

  // Capture what ts-mls saw in a commit; the callback runs after the proposals validated.
  let seen: { senderLeafIndex: number | undefined; proposals: ProposalWithSender[] } | undefined;
  let proposalSender: number | undefined;
  let result: Awaited<ReturnType<typeof processPrivateMessage>>;
  try {
    result = await processPrivateMessage(state, pm, emptyPskIndex, cs, (incoming) => {
      if (incoming.kind === 'commit')
        seen = { senderLeafIndex: incoming.senderLeafIndex, proposals: incoming.proposals };
      else proposalSender = incoming.proposal.senderLeafIndex;
      return 'accept';
    });
  } catch (e) {
    return fromMlsError(e, 'DECRYPT_FAILED');
  }

  if (result.kind === 'applicationMessage') {
    // ts-mls authenticated the message against the sender leaf named in the (AEAD-protected)
    // sender data; decrypt that again to learn who it was, in the epoch the message belongs to.
    const epochData =
      pm.epoch === current
        ? { senderDataSecret: state.keySchedule.senderDataSecret, ratchetTree: state.ratchetTree }
        : state.historicalReceiverData.get(pm.epoch);
    const senderData = epochData && (await decryptSenderData(pm, epochData.senderDataSecret, cs));
    const leafNode = epochData && senderData && epochData.ratchetTree[senderData.leafIndex * 2];
    if (leafNode?.nodeType !== 'leaf') return err('MALFORMED', 'sender leaf not found');
    const sender = await checkCredential(
      ctx.directory,
      leafNode.leaf.credential,
      leafNode.leaf.signaturePublicKey,
    );
    if (!sender.ok) return sender;
    groupInternals.settle(group);
    return ok({
      kind: 'application',
      group: groupInternals.make(result.newState, result.consumed),
      plaintext: result.message,
      sender: sender.value,
    });
  }

  const next = result.newState;
  if (seen === undefined) {
    // A proposal. Its sender must still be trusted like any other speaker.
    const leaf = proposalSender === undefined ? undefined : leafAt(state, proposalSender);
    if (leaf === undefined) return err('MALFORMED', 'proposal sender leaf not found');
    const checked = await checkCredential(ctx.directory, leaf.credential, leaf.signaturePublicKey);
    if (!checked.ok) return checked;
    groupInternals.settle(group);
    return ok({ kind: 'proposal', group: groupInternals.make(next, result.consumed) });
  }

  let sender: MemberIdentity | undefined;
  if (seen.senderLeafIndex !== undefined) {
    const leaf = leafAt(state, seen.senderLeafIndex);
    if (leaf === undefined) return err('MALFORMED', 'commit sender leaf not found');
    const checked = await checkCredential(ctx.directory, leaf.credential, leaf.signaturePublicKey);
    if (!checked.ok) return checked;
    sender = checked.value;
  }
  const added: MemberIdentity[] = [];
  const removed: MemberIdentity[] = [];
  for (const { proposal } of seen.proposals) {
    if (proposal.proposalType === 'add') {
      const m = memberOfLeaf(proposal.add.keyPackage.leafNode);
      if (m === undefined) return err('UNTRUSTED_CREDENTIAL', 'commit adds an undecodable credential');
      added.push(m);
    } else if (proposal.proposalType === 'remove') {
      const leaf = leafAt(state, proposal.remove.removed);
      const m = leaf && memberOfLeaf(leaf);
      if (m !== undefined) removed.push(m);
    }
  }
  const removedSelf = next.groupActiveState.kind === 'removedFromGroup';
  if (!removedSelf && hasDuplicateDevices(leafMembers(next).map(([, m]) => m)))
    return err('UNTRUSTED_CREDENTIAL', 'commit would put a device in the group twice');
  groupInternals.settle(group);
  return ok({
    kind: 'commit',
    group: groupInternals.make(next, result.consumed),
    added,
    removed,
    removedSelf,
    sender,
  });
}

/** The MLS exporter (RFC 9420 §8.5) of the group's current epoch, e.g. for SFrame keys. */
export async function exportSecret(
  group: Group,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const cs = await suite();
  return mlsExporter(groupInternals.state(group).keySchedule.exporterSecret, label, context, length, cs);
}
