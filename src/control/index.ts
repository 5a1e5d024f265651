/**
 * @module src/control
 *
 * The control port: the versioned, length-prefixed msgpack protocol of
 * proto/control/, its authenticated server (main thread), its client
 * (ferryctl), and one handler per operation in handlers/<op>.ts. Thread:
 * main (server) and the ferryctl process (client). Place in the flow:
 * ferryctl -> **control/** -> config / table / health / failover.
 * Nothing outside src/control/ imports its other files.
 */
export { ControlClient, ControlClientError, type ControlClientOptions } from './client.ts';
export {
  type Decoded,
  decodeReply,
  decodeRequest,
  decodeValue,
  encodeFrame,
  FrameDecoder,
  type FrameResult,
} from './codec.ts';
export { diffTargetGroups } from './config-diff.ts';
export { type ControlContext, type ControlHandler, defineHandler } from './context.ts';
export { badArgs, ControlError, errorBody } from './errors.ts';
export {
  CONTROL_HANDLERS,
  type ControlCounters,
  type ExplainSources,
  explainReport,
  parseArgs,
} from './handlers/index.ts';
export {
  CONTROL_CONNECT_TIMEOUT_MS,
  CONTROL_CONNECTIONS_MAX,
  CONTROL_HELLO_TIMEOUT_MS,
  CONTROL_IDLE_TIMEOUT_MS,
  CONTROL_IN_FLIGHT_MAX,
  CONTROL_LIST_ITEMS_MAX,
  CONTROL_REPLY_BYTES_MAX,
  CONTROL_REQUEST_BYTES_MAX,
  CONTROL_TOKEN_BYTES_MAX,
  CONTROL_TOKEN_BYTES_MIN,
} from './limits.ts';
export {
  type ReloadCounters,
  type ReloadOutcome,
  type ReloadTarget,
  type ReloadTrigger,
  reloadConfigFile,
} from './reload-file.ts';
export {
  type ControlServer,
  type ControlServerLimits,
  type ControlServerOptions,
  startControlServer,
} from './server.ts';
export { isTokenValid, loadControlToken, readTokenFile, tokenDigest } from './token.ts';
export { packageVersion } from './version.ts';
