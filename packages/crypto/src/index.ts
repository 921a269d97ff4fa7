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
export {
  DEFAULT_MAX_FRAMES_PER_KEY,
  DEFAULT_REPLAY_WINDOW,
  DEFAULT_ROTATION_GRACE_MS,
  type KeyOptions as SFrameKeyOptions,
  type KeyUsage as SFrameKeyUsage,
  SFrameContext,
  type SFrameContextOptions,
  type SFrameDecrypted,
} from './sframe/context.ts';
export {
  decodeHeader as decodeSFrameHeader,
  encodeHeader as encodeSFrameHeader,
  type SFrameHeader,
} from './sframe/header.ts';
export {
  deriveSenderKey,
  exportSFrameBaseKey,
  installMlsEpoch,
  kidFor,
  type MlsSender,
  type MlsSFrameEpoch,
  type MlsSFrameOptions,
  parseMlsKid,
  SFRAME_MLS_EXPORTER_LABEL,
  sframeKeyFromMls,
} from './sframe/mls.ts';
export { type SFrameSuite, type SFrameSuiteId, sframeSuite, sframeSuites } from './sframe/suites.ts';
