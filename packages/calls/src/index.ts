export { BrowserMediaEngine, type BrowserMediaOptions, browserMediaFactory } from './engine.ts';
export {
  type IceServerConfig,
  type IceUrlKind,
  iceServerSource,
  iceUrlKind,
  restrictIceServers,
  TurnResponse,
  withFrontRelays,
} from './ice.ts';
export {
  clearPrefixLength,
  type Direction,
  type EncodedFrameLike,
  type MediaKind,
  SFrameSession,
  type SFrameStats,
  type WorkerMessage,
} from './sframe.ts';
export {
  type ConnectionDetails,
  connectionDetails,
  type InboundDetails,
  inboundBytes,
  StallDetector,
  type StallOptions,
  type StallVerdict,
  type StatsEntry,
  type StatsInput,
} from './stats.ts';
