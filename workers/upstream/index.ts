/**
 * @module workers/upstream
 *
 * Connections to targets (public surface): raw keep-alive socket pools for
 * the HTTP/1.1 proxy and TCP, undici pools for HTTP/2 streams. Thread: worker.
 */
export { HttpPools } from './http-pool.ts';
export { SocketPool, type UpstreamOwner, type UpstreamSocket } from './socket-pool.ts';
