/**
 * @module workers/upstream
 *
 * Connections to targets (public surface): the exchange every protocol
 * carries a request or flow in (pick result, deadlines, in-flight count),
 * raw keep-alive socket pools for the HTTP/1.1 proxy and TCP, undici pools
 * for HTTP/2 streams, and the error code of an upstream failure. Thread:
 * worker.
 */
export { isConnectErrorCode, upstreamErrorCode } from './error-code.ts';
export { Exchange } from './exchange.ts';
export { HttpPools } from './http-pool.ts';
export { isRetryBudgeted, RetryBudget } from './retry-budget.ts';
export { SocketPool, type UpstreamOwner, type UpstreamSocket } from './socket-pool.ts';
