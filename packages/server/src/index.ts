export { type RunningServer, startServer } from './app.ts';
export type { Bus, BusMessage } from './bus.ts';
export { helpText, loadConfig, type ServerConfig } from './config.ts';
export { ServerError, type ServerErrorCode } from './errors.ts';
export { toWire } from './http/errors.ts';
/** The operator's moderation commands, for tests that act as the operator. */
export { runModerationCommand, splitModerationArgs } from './moderation/admin.ts';
export { WAKE_PAYLOAD } from './push.ts';
export type { TlsConfig, TransportConfig, TurnConfig } from './transport/options.ts';
