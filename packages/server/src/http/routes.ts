import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AccountResponse,
  AddDeviceRequest,
  ChallengeRequest,
  type ChallengeResponse,
  ClaimKeyPackagesRequest,
  type ClaimKeyPackagesResponse,
  CreateGroupRequest,
  CreateLinkRequest,
  type CreateLinkResponse,
  DeviceId,
  type DeviceInfo,
  type DevicesResponse,
  deviceCertTbs,
  ErrorCode,
  fromB64,
  GroupId,
  type GroupResponse,
  type InviteResponse,
  type KeyPackageCount,
  LinkId,
  type LinkResponse,
  LoginRequest,
  type LoginResponse,
  loginTbs,
  PROTOCOL_VERSION,
  PushSubscriptionRequest,
  parseUnknown,
  RegisterRequest,
  type ServerInfo,
  SessionId,
  type SessionsResponse,
  toB64,
  UploadKeyPackagesRequest,
  type UserEntry,
  UserId,
  Username,
  type VapidResponse,
} from '@kolokol/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Auth, authenticateHeader } from '../auth.ts';
import type { Context } from '../context.ts';
import { randomId, sha256Hex, verifyEd25519 } from '../crypto.ts';
import { ServerError } from '../errors.ts';
import type { Account, Device, NewDevice } from '../storage/store.ts';
import { registerAttachmentRoutes } from './attachments.ts';
import { registerModerationRoutes } from './reports.ts';

const CHALLENGE_TTL_MS = 2 * 60 * 1000;
const LINK_TTL_MS = 10 * 60 * 1000;
const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** 100 key packages of 16 KiB in base64, with room for JSON. */
const KEYPACKAGE_BODY_LIMIT = 4 * 1024 * 1024;

export function deviceInfo(d: Device): DeviceInfo {
  const info: DeviceInfo = {
    deviceId: d.deviceId,
    deviceKey: d.deviceKey,
    issuedAt: d.issuedAt,
    cert: d.cert,
    createdAt: d.createdAt,
  };
  if (d.name !== undefined) info.name = d.name;
  return info;
}

function certVerifies(identityKey: string, d: z.output<typeof AddDeviceRequest>['device']): boolean {
  return verifyEd25519(identityKey, deviceCertTbs(d.deviceId, fromB64(d.deviceKey), d.issuedAt), d.cert);
}

function newDevice(d: z.output<typeof AddDeviceRequest>['device']): NewDevice {
  return { deviceId: d.deviceId, deviceKey: d.deviceKey, cert: d.cert, issuedAt: d.issuedAt, name: d.name };
}

const params = <S extends z.ZodType>(schema: S, req: FastifyRequest): z.output<S> =>
  parseUnknown(schema, req.params, 'path');

export function registerRoutes(app: FastifyInstance, ctx: Context): void {
  const { store, bus } = ctx;
  const auth = (req: FastifyRequest): Promise<Auth> => authenticateHeader(ctx, req.headers.authorization);

  async function userEntry(account: Account): Promise<UserEntry> {
    const entry: UserEntry = {
      userId: account.userId,
      username: account.username,
      identityKey: account.identityKey,
      createdAt: account.createdAt,
      devices: (await store.activeDevices(account.userId)).map(deviceInfo),
      reported: await ctx.moderation.reportedBucket(account.userId, Date.now()),
    };
    if (account.displayName !== undefined) entry.displayName = account.displayName;
    return entry;
  }

  /** Tells the account's other devices, through the bus, what changed. */
  async function tellOtherDevices(
    userId: string,
    except: string,
    type: 'device-added' | 'device-revoked',
    deviceId: string,
  ) {
    for (const d of await store.activeDevices(userId)) {
      if (d.deviceId !== except)
        bus.publish(d.deviceId, { type: 'event', event: { type, userId, deviceId } });
    }
  }

  app.get(
    '/v1/info',
    async (): Promise<ServerInfo> => ({
      name: ctx.config.name,
      version: ctx.version,
      protocol: PROTOCOL_VERSION,
      registration: ctx.config.registration,
      maxAttachmentBytes: ctx.config.maxAttachmentBytes,
      ...(ctx.config.fronts === undefined || ctx.config.fronts.length === 0
        ? {}
        : { fronts: ctx.config.fronts }),
    }),
  );

  // ---- accounts, login, sessions ----

  app.post('/v1/accounts', async (req): Promise<AccountResponse> => {
    ctx.limiters.registration.hit(`ip:${req.ip}`);
    const body = parseUnknown(RegisterRequest, req.body, 'registration');
    let inviteCodeHash: string | undefined;
    if (ctx.config.registration === 'invite') {
      if (body.inviteCode === undefined)
        throw new ServerError(ErrorCode.InviteRequired, 'this server needs an invite code');
      inviteCodeHash = sha256Hex(body.inviteCode);
    }
    if (!certVerifies(body.identityKey, body.device)) {
      throw new ServerError(ErrorCode.Forbidden, 'device cert does not verify under the identity key');
    }
    const userId = randomId();
    await store.createAccount({
      userId,
      username: body.username,
      displayName: body.displayName,
      identityKey: body.identityKey,
      device: newDevice(body.device),
      inviteCodeHash,
      now: Date.now(),
    });
    return { userId, username: body.username, deviceId: body.device.deviceId };
  });

  app.post('/v1/auth/challenge', async (req): Promise<ChallengeResponse> => {
    const { deviceId } = parseUnknown(ChallengeRequest, req.body, 'challenge request');
    const device = await store.device(deviceId);
    if (device === undefined) {
      // Made-up device ids count against the caller's IP, so they cannot fill the device limiter.
      ctx.limiters.challengeUnknown.hit(`ip:${req.ip}`);
      throw new ServerError(ErrorCode.Unauthorized, 'unknown device');
    }
    ctx.limiters.challenge.hit(`device:${deviceId}`);
    if (device.revokedAt !== undefined)
      throw new ServerError(ErrorCode.DeviceRevoked, 'this device has been revoked');
    const challenge = randomId(32);
    const expiresAt = Date.now() + CHALLENGE_TTL_MS;
    await store.createChallenge(deviceId, challenge, expiresAt);
    return { challenge, expiresAt };
  });

  app.post('/v1/auth/login', async (req): Promise<LoginResponse> => {
    const body = parseUnknown(LoginRequest, req.body, 'login');
    const now = Date.now();
    const device = await store.device(body.deviceId);
    if (device === undefined) throw new ServerError(ErrorCode.Unauthorized, 'unknown device');
    if (device.revokedAt !== undefined)
      throw new ServerError(ErrorCode.DeviceRevoked, 'this device has been revoked');
    // Consumed before the signature check, so that a challenge is good for one attempt only.
    if (!(await store.consumeChallenge(body.deviceId, body.challenge, now))) {
      throw new ServerError(ErrorCode.ChallengeFailed, 'unknown, used or expired challenge');
    }
    if (!verifyEd25519(device.deviceKey, loginTbs(body.deviceId, fromB64(body.challenge)), body.signature)) {
      throw new ServerError(ErrorCode.ChallengeFailed, 'signature does not verify under the device key');
    }
    // After the signature: only the account's own device learns that and why it is suspended.
    await ctx.moderation.assertNotSuspended(device.userId);
    const token = randomId(32);
    const sessionId = randomId();
    const expiresAt = now + ctx.config.sessionTtlDays * DAY_MS;
    await store.createSession({
      sessionId,
      deviceId: device.deviceId,
      userId: device.userId,
      tokenHash: sha256Hex(token),
      now,
      expiresAt,
    });
    return { token, sessionId, userId: device.userId, deviceId: device.deviceId, expiresAt };
  });

  app.get('/v1/sessions', async (req): Promise<SessionsResponse> => {
    const a = await auth(req);
    const sessions = await store.activeSessions(a.userId, Date.now());
    return {
      sessions: sessions.map((s) => ({
        sessionId: s.sessionId,
        deviceId: s.deviceId,
        createdAt: s.createdAt,
        lastSeenAt: s.lastSeenAt,
        current: s.sessionId === a.sessionId,
      })),
    };
  });

  app.delete('/v1/sessions/:sessionId', async (req) => {
    const a = await auth(req);
    const { sessionId } = params(z.object({ sessionId: SessionId }), req);
    const revoked = await store.revokeSession(a.userId, sessionId, Date.now());
    if (revoked === undefined)
      throw new ServerError(ErrorCode.NotFound, 'no such active session on this account');
    bus.publish(revoked.deviceId, { type: 'session-revoked', sessionId });
    return {};
  });

  app.delete('/v1/accounts/me', async (req) => {
    const a = await auth(req);
    const r = await store.deleteAccount(a.userId, Date.now());
    for (const id of r.uploads) await rm(join(ctx.attachmentsDir, 'uploads', id), { force: true });
    // Close the account's sockets, and tell whoever shared a group with it (online now) that it is
    // gone; the others find out from the directory (404) or the next commit.
    for (const d of r.devices) bus.publish(d, { type: 'device-revoked' });
    for (const d of r.peers) {
      bus.publish(d, { type: 'event', event: { type: 'account-deleted', userId: a.userId } });
    }
    return {};
  });

  // ---- push ----

  app.get('/v1/push/vapid', async (): Promise<VapidResponse> => {
    if (ctx.push === undefined) throw new ServerError(ErrorCode.NotFound, 'push is disabled on this server');
    return { publicKey: ctx.push.publicKey };
  });

  app.put('/v1/push/subscription', async (req) => {
    const a = await auth(req);
    const sub = parseUnknown(PushSubscriptionRequest, req.body, 'push subscription');
    if (ctx.push === undefined) throw new ServerError(ErrorCode.NotFound, 'push is disabled on this server');
    if (!ctx.push.endpointAllowed(sub.endpoint)) {
      throw new ServerError(ErrorCode.BadRequest, 'push endpoints must be https:// URLs');
    }
    await store.putPushSubscription(a.deviceId, sub, Date.now());
    return {};
  });

  app.delete('/v1/push/subscription', async (req) => {
    const a = await auth(req);
    await store.deletePushSubscription(a.deviceId);
    return {};
  });

  // ---- devices and links ----

  app.get('/v1/devices', async (req): Promise<DevicesResponse> => {
    const a = await auth(req);
    return { devices: (await store.activeDevices(a.userId)).map(deviceInfo) };
  });

  app.delete('/v1/devices/:deviceId', async (req) => {
    const a = await auth(req);
    const { deviceId } = params(z.object({ deviceId: DeviceId }), req);
    const changed = await store.revokeDevice(a.userId, deviceId, Date.now());
    if (changed) {
      bus.publish(deviceId, { type: 'device-revoked' });
      await tellOtherDevices(a.userId, deviceId, 'device-revoked', deviceId);
    }
    return {};
  });

  app.post('/v1/links', async (req): Promise<CreateLinkResponse> => {
    const a = await auth(req);
    const { sealed } = parseUnknown(CreateLinkRequest, req.body, 'link');
    const linkId = randomId();
    const now = Date.now();
    const expiresAt = now + LINK_TTL_MS;
    await store.createLink(linkId, a.userId, sealed, now, expiresAt);
    return { linkId, expiresAt };
  });

  app.get('/v1/links/:linkId', async (req): Promise<LinkResponse> => {
    const { linkId } = params(z.object({ linkId: LinkId }), req);
    const link = await store.link(linkId);
    if (link === undefined) throw new ServerError(ErrorCode.NotFound, 'unknown link');
    if (link.usedAt !== undefined || link.expiresAt <= Date.now()) {
      throw new ServerError(ErrorCode.LinkExpired, 'link is used or expired');
    }
    return { linkId: link.linkId, userId: link.userId, sealed: link.sealed, expiresAt: link.expiresAt };
  });

  app.post('/v1/devices', async (req): Promise<AccountResponse> => {
    ctx.limiters.registration.hit(`ip:${req.ip}`);
    const body = parseUnknown(AddDeviceRequest, req.body, 'device');
    const account = await store.addLinkedDevice({
      linkId: body.linkId,
      device: newDevice(body.device),
      now: Date.now(),
      verify: (identityKey) => certVerifies(identityKey, body.device),
    });
    await tellOtherDevices(account.userId, body.device.deviceId, 'device-added', body.device.deviceId);
    return { userId: account.userId, username: account.username, deviceId: body.device.deviceId };
  });

  // ---- directory ----

  app.get('/v1/users/id/:userId', async (req): Promise<UserEntry> => {
    await auth(req);
    const { userId } = params(z.object({ userId: UserId }), req);
    const account = await store.accountById(userId);
    if (account === undefined) throw new ServerError(ErrorCode.NotFound, 'no such user');
    return userEntry(account);
  });

  app.get('/v1/users/:username', async (req): Promise<UserEntry> => {
    await auth(req);
    const { username } = params(z.object({ username: Username }), req);
    const account = await store.accountByUsername(username);
    if (account === undefined) throw new ServerError(ErrorCode.NotFound, 'no such user');
    return userEntry(account);
  });

  // ---- key packages ----

  app.post('/v1/keypackages', { bodyLimit: KEYPACKAGE_BODY_LIMIT }, async (req): Promise<KeyPackageCount> => {
    const a = await auth(req);
    const body = parseUnknown(UploadKeyPackagesRequest, req.body, 'key packages');
    return store.uploadKeyPackages(
      a.deviceId,
      body.keyPackages.map((k) => fromB64(k)),
      body.lastResort === undefined ? undefined : fromB64(body.lastResort),
      Date.now(),
    );
  });

  app.get('/v1/keypackages/count', async (req): Promise<KeyPackageCount> => {
    const a = await auth(req);
    return store.keyPackageCount(a.deviceId);
  });

  app.post('/v1/keypackages/claim', async (req): Promise<ClaimKeyPackagesResponse> => {
    const a = await auth(req);
    const { userId } = parseUnknown(ClaimKeyPackagesRequest, req.body, 'claim');
    // Each claim uses up a one-time package of every device of the user and makes them top up:
    // limited per claiming account and per (claimer, target) pair (review M3).
    ctx.limiters.claimPairs.hit(`${a.userId}>${userId}`);
    ctx.limiters.claims.hit(`user:${a.userId}`);
    if ((await store.accountById(userId)) === undefined)
      throw new ServerError(ErrorCode.NotFound, 'no such user');
    const reachStranger = await ctx.moderation.strangerGate(a.userId, userId, Date.now());
    const claimed = await store.claimKeyPackages(userId, a.deviceId);
    await reachStranger?.();
    for (const c of claimed) {
      if (c.remaining < ctx.config.keyPackageLowWatermark) {
        bus.publish(c.deviceId, {
          type: 'event',
          event: { type: 'keypackages-low', remaining: c.remaining },
        });
      }
    }
    return {
      userId,
      keyPackages: claimed.map((c) => ({
        deviceId: c.deviceId,
        keyPackage: toB64(c.bytes),
        lastResort: c.lastResort,
      })),
    };
  });

  // ---- groups ----

  app.post('/v1/groups', async (req): Promise<GroupResponse> => {
    const a = await auth(req);
    const { groupId } = parseUnknown(CreateGroupRequest, req.body, 'group');
    await store.createGroup(groupId, { userId: a.userId, deviceId: a.deviceId }, Date.now());
    return { groupId, epoch: 0, members: [{ userId: a.userId, deviceId: a.deviceId }] };
  });

  app.get('/v1/groups/:groupId', async (req): Promise<GroupResponse> => {
    const a = await auth(req);
    const { groupId } = params(z.object({ groupId: GroupId }), req);
    const g = await store.group(groupId);
    if (g === undefined) throw new ServerError(ErrorCode.NotFound, 'unknown group');
    if (!g.members.some((m) => m.deviceId === a.deviceId)) {
      throw new ServerError(ErrorCode.NotGroupMember, 'this device is not a member of the group');
    }
    return { groupId, epoch: g.epoch, members: g.members, createdAt: g.createdAt };
  });

  // ---- invites ----

  app.post('/v1/invites', async (req): Promise<InviteResponse> => {
    const a = await auth(req);
    const code = randomId(18);
    const now = Date.now();
    const expiresAt = now + INVITE_TTL_MS;
    await store.createInvite(sha256Hex(code), a.userId, now, expiresAt);
    return { code, expiresAt };
  });

  registerAttachmentRoutes(app, ctx, auth);
  registerModerationRoutes(app, ctx);

  // ---- operations ----

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await store.ping();
    } catch (cause) {
      throw new ServerError(ErrorCode.Unavailable, 'database is not answering', { cause });
    }
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
