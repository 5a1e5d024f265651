/**
 * @module workers/l7/h2
 *
 * HTTP/2 on HTTPS listeners: a client that picks `h2` by ALPN gets an HTTP/2
 * session (node:http2, server side, over the already-terminated TLS socket),
 * and each stream is proxied to an HTTP/1.1 target through the same route,
 * pick, counters and record as HttpConnection. Thread: worker. Place in the flow:
 *
 *   accept ──> tls (ALPN h2) ──> H2Listener.accept ──> H2Session (one per connection)
 *     │  no stream within `timeouts.requestHeader` of the handshake: GOAWAY, closed (a client
 *     │  timeout, as an HTTP/1.1 connection that sent nothing); no stream open for `keepAlive`: GOAWAY
 *     stream ──> readHead (h2 headers -> RequestHead) ──> route ──> pick ──> connect+forward
 *       (undici Pool per target: workers/upstream/http-pool.ts) ──> relay (undici handler) ──> finish
 *     │             │              │        │            │                       │
 *     │             │              │        │            │                       └─ reset mid-body:
 *     │             │              │        │            │                          RST_STREAM INTERNAL_ERROR;
 *     │             │              │        │            │                          DOWNSTREAM_SEND_TIMEOUT (RST_STREAM
 *     │             │              │        │            │                          CANCEL: response bytes the client
 *     │             │              │        │            │                          did not let through within `send`)
 *     │             │              │        │            └─ UPSTREAM_CONNECT_REFUSED/_RESET/_TLS (502),
 *     │             │              │        │               UPSTREAM_CONNECT_TIMEOUT/_TIMEOUT (504); a refused or
 *     │             │              │        │               timed-out connect of a bodiless stream goes back to
 *     │             │              │        │               pick on another target (group `retries`, retryConnect)
 *     │             │              │        │               UPSTREAM_BAD_RESPONSE (502),
 *     │             │              │        │               HTTP_BODY_TIMEOUT (408, or RST_STREAM CANCEL once the
 *     │             │              │        │               response started: body below `requestBody` + minimum
 *     │             │              │        │               rate; the client's fault, no target penalty)
 *     │             │              │        └─ PICK_NO_TARGET (503)
 *     │             │              └─ ROUTE_NO_MATCH (404); redirect and fixedResponse answered here
 *     │             └─ HTTP_BAD_REQUEST (400: CONNECT), HTTP_HEADERS_TOO_LARGE (431, as HTTP/1.1;
 *     │                beyond H2_HEADER_LIST_BYTES_MAX nghttp2 resets the stream: ENHANCE_YOUR_CALM)
 *     └─ DRAINING: GOAWAY, open streams finish
 *
 * Why streams go to HTTP/1.1 targets through undici and not the raw pool:
 * see workers/upstream/http-pool.ts (translation is needed anyway; undici
 * does it with keep-alive and strict parsing). The h2 side is node:http2's
 * core API (no compat layer), and each stream is one H2Exchange object that
 * is its own undici dispatch handler (no closures per chunk).
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS = H2_CONCURRENT_STREAMS_MAX, server
 * push off. A request head may hold HTTP_HEAD_BYTES_MAX bytes (measured on
 * its HTTP/1.1 form, so both protocols take the same heads) and
 * HTTP_HEADER_COUNT_MAX fields; readHead checks these and answers 431.
 * nghttp2's own header limits sit 4x higher (H2_HEADER_LIST_BYTES_MAX,
 * H2_HEADER_PAIRS_MAX): were they Ferry's, nghttp2 would reset the stream
 * before Ferry saw it, and clients retry a reset. They stay as the hard
 * bound on memory, with nghttp2's flood and rapid-reset protections.
 *
 * Client deadlines (issue 10) are the listener's `timeouts`, the values
 * HTTP/1.1 connections get, checked by the worker tick through the session,
 * which walks its open streams (no timer per stream; see H2Session). undici's
 * own timeouts bound the target only: it stops them while it writes a
 * request body or while the response is paused for the client.
 *
 * Headers to the target: `:authority` becomes Host; several `cookie` fields
 * are joined with "; " (RFC 9113 §8.2.3); connection-specific fields and
 * `expect` are dropped (the body is streamed as it comes, and a 100 is sent
 * to the client at once); X-Forwarded-For/-Proto (https)/-Port are set as on
 * HTTP/1.1. A request body without content-length goes chunked.
 */
export { H2Listener } from './listener.ts';
