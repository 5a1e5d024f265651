/**
 * @module workers/http/hop-by-hop
 *
 * Which header fields a proxy must not pass on. Thread: worker. Place in the
 * flow: **forward** (request heads) and **relay** (response heads), for both
 * the HTTP/1.1 proxy (workers/l7/index.ts) and HTTP/2 streams (workers/l7/h2/).
 *
 * One list of connection-specific fields (RFC 9110 §7.6.1, RFC 9113 §8.2.2),
 * plus the fields Ferry writes itself on the way to a target; each caller
 * adds only what its own framing needs.
 */

/** Connection-specific fields: they describe one hop and never cross a proxy. Names are lower-case. */
export function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

/** Hop-by-hop, or one of the X-Forwarded-* fields Ferry sets on requests to targets itself. */
export function isDroppedRequestHeader(name: string): boolean {
  switch (name) {
    case 'x-forwarded-for':
    case 'x-forwarded-proto':
    case 'x-forwarded-port':
    // Set from the verified client certificate on mTLS listeners, and never passed on from a client:
    // a caller could otherwise claim any identity to the application (issue 14).
    case 'x-forwarded-client-cert':
      return true;
    default:
      return isHopByHop(name);
  }
}
