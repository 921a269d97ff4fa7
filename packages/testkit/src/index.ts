export {
  type ChaosControl,
  type ChaosOptions,
  type ChaosStats,
  chaosTransport,
  chaosWebSocket,
  seededRandom,
} from './chaos.ts';
export {
  type ClientOptions,
  type Collected,
  collectMessages,
  disposeAllClients,
  linkDevice,
  newClient,
  reopenClient,
  type TestClient,
  uniqueName,
} from './clients.ts';
export { TestkitError, type TestkitErrorCode } from './errors.ts';
export { type TcpProxy, tcpProxy, type Upstream } from './proxy.ts';
export {
  errorCodeOf,
  type HttpResult,
  http,
  httpOk,
  loginRaw,
  opaqueBody,
  type RawDevice,
  type RawSession,
  RawSocket,
  type RawUser,
  randomId,
  rawGroup,
  rawUser,
  registerRaw,
  wsUrl,
} from './raw.ts';
export { encodings, filesUnder, type Needle } from './scan.ts';
export {
  repoRoot,
  type SpawnedServer,
  type SpawnOptions,
  spawnServer,
  startTestServer,
  type TestServer,
} from './server.ts';
export { keepData, makeTempDir, removeTempDir } from './tmp.ts';
export { sleep, waitFor, withTimeout } from './wait.ts';
