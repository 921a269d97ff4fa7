export { type RunningServer, startServer } from './app.ts';
export type { Bus, BusMessage } from './bus.ts';
export { helpText, loadConfig, type ServerConfig } from './config.ts';
export { ServerError, type ServerErrorCode } from './errors.ts';
export { toWire } from './http/errors.ts';
export { WAKE_PAYLOAD } from './push.ts';
export type { TlsConfig, TransportConfig, TurnConfig } from './transport/options.ts';
