import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import type { RateLimitConfig, ServerConfig, TuningConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { Moderation } from './moderation/service.ts';
import type { Presence, PushSender } from './push.ts';
import type { RateLimiter } from './ratelimit.ts';
import type { Store } from './storage/store.ts';
import type { Connection } from './ws/connection.ts';
import type { ConnectionRegistry } from './ws/registry.ts';

export type ResolvedConfig = ServerConfig & { rateLimits: RateLimitConfig; tuning: TuningConfig };

/** What request handlers and connections share. */
export interface Context {
  config: ResolvedConfig;
  store: Store;
  bus: Bus;
  metrics: Metrics;
  log: Logger;
  limiters: {
    registration: RateLimiter;
    challenge: RateLimiter;
    challengeUnknown: RateLimiter;
    claims: RateLimiter;
    claimPairs: RateLimiter;
  };
  attachmentsDir: string;
  version: string;
  /** Devices with a live socket on this process. */
  presence: Presence;
  /** Undefined when push is off. */
  push: PushSender | undefined;
  /** Live sockets per device and unauthenticated sockets per IP (the caps of tuning). */
  connections: ConnectionRegistry<Connection>;
  /** Franking, reports, suspensions and the new-account limits (issue 6). */
  moderation: Moderation;
}
