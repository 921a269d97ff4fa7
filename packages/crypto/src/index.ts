export { createAuthService, type IdentityDirectory } from './auth.ts';
export { decodeMemberIdentity, encodeMemberIdentity, type MemberIdentity } from './credential.ts';
export { CryptoError, type CryptoErrorCode, type Result } from './errors.ts';
export {
  certifyDevice,
  type DeviceKeys,
  generateIdentity,
  type IdentityKeyPair,
  newDeviceId,
  signLogin,
  verifyDeviceCert,
} from './identity.ts';
export {
  addMembers,
  type CommitOutput,
  createGroup,
  decodeGroup,
  encryptMessage,
  exportSecret,
  Group,
  generateKeyPackages,
  inspectKeyPackage,
  joinFromWelcome,
  type KeyPackageBundle,
  type MlsContext,
  type Processed,
  processMessage,
  removeMembers,
  selfUpdate,
} from './mls.ts';
export { safetyNumber } from './safety.ts';
export { open, randomBytes, seal } from './sealed.ts';
