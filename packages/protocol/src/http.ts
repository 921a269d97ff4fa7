/**
 * HTTP request and response bodies, all under the /v1 prefix. Authenticated routes take
 * `Authorization: Bearer <token>` from POST /v1/auth/login. Errors are always ErrorBody.
 */
import { z } from 'zod';
import { b64, b64Exact } from './bytes.ts';
import { ErrorCode, errorCodes } from './errors.ts';
import {
  AttachmentId,
  DeviceId,
  DeviceName,
  DisplayName,
  GroupId,
  LinkId,
  Millis,
  SessionId,
  UserId,
  Username,
} from './ids.ts';
import { Limits } from './limits.ts';

export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
export { ErrorCode };

export const Ed25519PublicKey = b64Exact(32);
export const Ed25519Signature = b64Exact(64);

/** A device's signature key certified by its account's identity key (see signing.ts). */
export const DeviceRegistration = z.object({
  deviceId: DeviceId,
  deviceKey: Ed25519PublicKey,
  issuedAt: Millis,
  cert: Ed25519Signature,
  name: DeviceName.optional(),
});
export type DeviceRegistration = z.infer<typeof DeviceRegistration>;

// POST /v1/accounts
export const RegisterRequest = z.object({
  username: Username,
  displayName: DisplayName.optional(),
  identityKey: Ed25519PublicKey,
  device: DeviceRegistration,
  inviteCode: z.string().min(1).max(128).optional(),
});
export type RegisterRequest = z.input<typeof RegisterRequest>;
export const AccountResponse = z.object({ userId: UserId, username: z.string(), deviceId: DeviceId });
export type AccountResponse = z.infer<typeof AccountResponse>;

// POST /v1/auth/challenge
export const ChallengeRequest = z.object({ deviceId: DeviceId });
export const ChallengeResponse = z.object({ challenge: b64Exact(32), expiresAt: Millis });
export type ChallengeResponse = z.infer<typeof ChallengeResponse>;

// POST /v1/auth/login
export const LoginRequest = z.object({
  deviceId: DeviceId,
  challenge: b64Exact(32),
  signature: Ed25519Signature,
});
export type LoginRequest = z.input<typeof LoginRequest>;
export const LoginResponse = z.object({
  token: z.string().min(16).max(128),
  sessionId: SessionId,
  userId: UserId,
  deviceId: DeviceId,
  expiresAt: Millis,
});
export type LoginResponse = z.infer<typeof LoginResponse>;

// GET /v1/sessions ; DELETE /v1/sessions/:sessionId
export const SessionInfo = z.object({
  sessionId: SessionId,
  deviceId: DeviceId,
  createdAt: Millis,
  lastSeenAt: Millis,
  current: z.boolean(),
});
export const SessionsResponse = z.object({ sessions: z.array(SessionInfo) });
export type SessionsResponse = z.infer<typeof SessionsResponse>;

export const DeviceInfo = z.object({
  deviceId: DeviceId,
  deviceKey: Ed25519PublicKey,
  issuedAt: Millis,
  cert: Ed25519Signature,
  name: z.string().optional(),
  createdAt: Millis,
});
export type DeviceInfo = z.infer<typeof DeviceInfo>;

// GET /v1/devices (own account) ; DELETE /v1/devices/:deviceId (revoke any device of own account)
export const DevicesResponse = z.object({ devices: z.array(DeviceInfo) });
export type DevicesResponse = z.infer<typeof DevicesResponse>;

// POST /v1/links (auth): store a sealed link bundle; the key stays in the link code, off the server.
export const CreateLinkRequest = z.object({ sealed: b64(1, 256 * 1024) });
export const CreateLinkResponse = z.object({ linkId: LinkId, expiresAt: Millis });
export type CreateLinkResponse = z.infer<typeof CreateLinkResponse>;
// GET /v1/links/:linkId (no auth)
export const LinkResponse = z.object({
  linkId: LinkId,
  userId: UserId,
  sealed: z.string(),
  expiresAt: Millis,
});
export type LinkResponse = z.infer<typeof LinkResponse>;
// POST /v1/devices (no auth): add a device to an account with a link id; the cert must verify
// under the account's identity key, which only the account's devices hold.
export const AddDeviceRequest = z.object({ linkId: LinkId, device: DeviceRegistration });
export type AddDeviceRequest = z.input<typeof AddDeviceRequest>;

// GET /v1/users/:username and GET /v1/users/id/:userId
export const UserEntry = z.object({
  userId: UserId,
  username: z.string(),
  displayName: z.string().optional(),
  identityKey: Ed25519PublicKey,
  createdAt: Millis,
  devices: z.array(DeviceInfo),
  /**
   * Whether other people reported this account lately (verified, not dismissed reports, counted
   * by distinct reporter): coarse on purpose, for the context card of a message request.
   */
  reported: z.enum(['none', 'some', 'many']).optional(),
});
export type UserEntry = z.infer<typeof UserEntry>;

// POST /v1/keypackages
export const KeyPackage = b64(1, Limits.maxKeyPackageBytes);
export const UploadKeyPackagesRequest = z.object({
  keyPackages: z.array(KeyPackage).max(Limits.maxKeyPackagesPerUpload),
  lastResort: KeyPackage.optional(),
});
export type UploadKeyPackagesRequest = z.input<typeof UploadKeyPackagesRequest>;
// GET /v1/keypackages/count and the response to an upload
export const KeyPackageCount = z.object({ oneTime: z.number().int().nonnegative(), lastResort: z.boolean() });
export type KeyPackageCount = z.infer<typeof KeyPackageCount>;
// POST /v1/keypackages/claim: one key package for every active device of the user, except the
// caller's own device. One-time packages are consumed; the last-resort one is reused.
export const ClaimKeyPackagesRequest = z.object({ userId: UserId });
export const ClaimedKeyPackage = z.object({
  deviceId: DeviceId,
  keyPackage: z.string(),
  lastResort: z.boolean(),
});
export const ClaimKeyPackagesResponse = z.object({ userId: UserId, keyPackages: z.array(ClaimedKeyPackage) });
export type ClaimKeyPackagesResponse = z.infer<typeof ClaimKeyPackagesResponse>;

// POST /v1/groups: the caller's device becomes the only member at epoch 0.
export const CreateGroupRequest = z.object({ groupId: GroupId });
export const GroupMember = z.object({ userId: UserId, deviceId: DeviceId });
export type GroupMember = z.infer<typeof GroupMember>;
// GET /v1/groups/:groupId (members only)
export const GroupResponse = z.object({
  groupId: GroupId,
  epoch: z.number().int().nonnegative(),
  members: z.array(GroupMember),
  /** When the server created the group (a joiner's safety overview shows its age). */
  createdAt: Millis.optional(),
});
export type GroupResponse = z.infer<typeof GroupResponse>;

// POST /v1/attachments (body: application/octet-stream, Content-Length required) ;
// GET /v1/attachments/:attachmentId streams the ciphertext back.
export const AttachmentResponse = z.object({
  attachmentId: AttachmentId,
  size: z.number().int().nonnegative(),
});
export type AttachmentResponse = z.infer<typeof AttachmentResponse>;

// Chunked uploads (auth), for upload progress and cancel (fetch cannot report upload progress):
// POST /v1/attachments/uploads {size} -> UploadResponse; PUT /v1/attachments/uploads/:uploadId?offset=N
// (octet-stream chunk of at most chunkSize bytes, N must equal the bytes received so far) ->
// UploadProgress; POST /v1/attachments/uploads/:uploadId/complete -> AttachmentResponse;
// DELETE /v1/attachments/uploads/:uploadId cancels. Unfinished uploads expire after 24 h.
export const UploadId = z
  .string()
  .min(8)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'uploadId must be url-safe');
export const CreateUploadRequest = z.object({ size: z.number().int().positive() });
export type CreateUploadRequest = z.input<typeof CreateUploadRequest>;
export const UploadResponse = z.object({
  uploadId: UploadId,
  attachmentId: AttachmentId,
  chunkSize: z.number().int().positive(),
  expiresAt: Millis,
});
export type UploadResponse = z.infer<typeof UploadResponse>;
export const UploadOffsetQuery = z.object({
  offset: z
    .string()
    .regex(/^\d{1,16}$/, 'offset must be a non-negative integer')
    .transform(Number),
});
export const UploadProgress = z.object({ received: z.number().int().nonnegative() });
export type UploadProgress = z.infer<typeof UploadProgress>;

// DELETE /v1/accounts/me (auth): deletes the account, its devices, sessions, key packages,
// mailboxes, push subscriptions and group memberships. The username stays reserved for a
// quarantine period (see the server README) and then becomes free.

// Web Push (RFC 8030/8291/8292). GET /v1/push/vapid (no auth) -> VapidResponse, or NOT_FOUND when
// the server has push disabled; PUT /v1/push/subscription (auth) stores the subscription of the
// calling device (one per device, replaced); DELETE /v1/push/subscription removes it. Pushes carry
// no message content, only what kind of wake-up this is (PushPayload).
export const VapidResponse = z.object({ publicKey: z.string().min(1).max(200) });
export type VapidResponse = z.infer<typeof VapidResponse>;
export const PushSubscriptionRequest = z.object({
  endpoint: z.url({ protocol: /^https?$/ }).max(2048),
  keys: z.object({
    /** The user agent's P-256 public key, uncompressed point, base64url. */
    p256dh: b64Exact(65),
    /** The 16-byte auth secret, base64url. */
    auth: b64Exact(16),
  }),
});
export type PushSubscriptionRequest = z.input<typeof PushSubscriptionRequest>;

/**
 * The whole (encrypted, RFC 8291) payload of a push: `wake` (something arrived: connect and
 * sync), `call` (a call is ringing: sent at once, short-lived) or `missed-call` (the call that rang
 * ended unanswered). The kind comes from the sender's hint (OutgoingMessage.push), never from
 * content: the server cannot read any.
 */
export const PushKind = z.enum(['wake', 'call', 'missed-call']);
export type PushKind = z.infer<typeof PushKind>;
export const PushPayload = z.object({ t: PushKind });
export type PushPayload = z.infer<typeof PushPayload>;

// POST /v1/invites (auth): a single-use invite code, for servers with invite-only registration.
export const InviteResponse = z.object({ code: z.string(), expiresAt: Millis });
export type InviteResponse = z.infer<typeof InviteResponse>;

// GET /v1/info (no auth): what a client needs to know before registering.
export const ServerInfo = z.object({
  name: z.string(),
  version: z.string(),
  protocol: z.number().int(),
  registration: z.enum(['open', 'invite']),
  maxAttachmentBytes: z.number().int(),
  /** Other URLs (origins) of this same server, for clients to fall back to (fronts). */
  fronts: z.array(z.string().max(512)).max(32).optional(),
});
export type ServerInfo = z.infer<typeof ServerInfo>;

// GET /v1/turn (auth): short-lived TURN credentials and the ICE servers to use them with, in this
// order: TURN over UDP, TURN over TCP, TURN over TLS on the app's own host and port. Credentials
// follow the TURN REST scheme (username = "<expiry unix seconds>:<device id>", credential =
// base64(HMAC-SHA1(secret, username))) and stop working after `ttl` seconds: fetch them per call.
// NOT_FOUND when the server runs no relay. The shape is RTCIceServer's, ready for RTCPeerConnection.
export const IceServer = z.object({
  urls: z
    .array(
      z
        .string()
        .max(512)
        .regex(/^turns?:[^\s?]+(\?transport=(udp|tcp))?$/, 'a turn: or turns: URL'),
    )
    .min(1),
  username: z.string().min(1).max(512),
  credential: z.string().min(1).max(512),
});
export type IceServer = z.infer<typeof IceServer>;
export const TurnResponse = z.object({
  iceServers: z.array(IceServer).max(16),
  /** Seconds the credentials stay valid. */
  ttl: z.number().int().positive(),
});
export type TurnResponse = z.infer<typeof TurnResponse>;
