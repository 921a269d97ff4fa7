import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import type { RateLimitConfig, ServerConfig, TuningConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { Presence, PushSender } from './push.ts';
import type { RateLimiter } from './ratelimit.ts';
import type { Store } from './storage/store.ts';

export type ResolvedConfig = ServerConfig & { rateLimits: RateLimitConfig; tuning: TuningConfig };

/** What request handlers and connections share. */
export interface Context {
  config: ResolvedConfig;
  store: Store;
  bus: Bus;
  metrics: Metrics;
  log: Logger;
  limiters: { registration: RateLimiter; challenge: RateLimiter };
  attachmentsDir: string;
  version: string;
  /** Devices with a live socket on this process. */
  presence: Presence;
  /** Undefined when push is off. */
  push: PushSender | undefined;
}
