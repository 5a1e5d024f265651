/**
 * @module workers/tls/peer-identity
 *
 * Authorization by identity on an mTLS listener (issue 14): the verified
 * client certificate's SPIFFE ID (its one URI SAN) checked against the
 * listener's `allowedIdentities`, and the `x-forwarded-client-cert` value
 * (Envoy's format) that tells the application who called. Thread: worker.
 * Place in the flow: **tls** (after the handshake, once per connection) ->
 * route (a connection whose caller is not allowed gets 403
 * FERRY_ERR_IDENTITY_FORBIDDEN for each request, logged with the caller's ID).
 *
 * Why per connection and not per request: the client certificate cannot
 * change on a connection (renegotiation is refused, workers/tls/policy.ts),
 * so the ID, the decision and the header value are computed once. Why a
 * 403 rather than a failed handshake for HTTP: the caller then learns *why*
 * (a code it can search for) instead of a bare TLS alert, as linkerd's
 * authorization policy answers HTTP callers; the handshake itself already
 * failed for a certificate from another CA or an expired one.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { TopologyPeerIdentity } from '../../proto/thread-messages.ts';
import { compileSpiffePatterns, spiffeIdOfSan } from '../../src/shared/spiffe.ts';

/** What one connection's caller is. Immutable. */
export interface PeerIdentity {
  /** The caller's SPIFFE ID, or null when its certificate names none (or several URIs). */
  readonly spiffeId: string | null;
  /** False when the listener restricts identities and this caller is not among them. */
  readonly isAllowed: boolean;
  /** The `x-forwarded-client-cert` header line (with CRLF) for requests to the application. */
  readonly forwardedClientCertLine: string;
  /** The same value, for HTTP/2 streams (header lists, not text). */
  readonly forwardedClientCert: string;
}

/** The listener's precomputed check (H2: compiled when the listener is bound). */
export class PeerIdentityCheck {
  private readonly isAllowedId: ((id: string) => boolean) | null;
  private readonly byPart: string;

  constructor(settings: TopologyPeerIdentity) {
    this.isAllowedId =
      settings.allowedIdentities === null ? null : compileSpiffePatterns(settings.allowedIdentities);
    this.byPart = settings.ownSpiffeId === null ? '' : `By=${settings.ownSpiffeId};`;
  }

  /**
   * The identity of a connection whose handshake verified the client
   * certificate (the listener requires one). Once per connection; allocates.
   */
  of(socket: TLSSocket): PeerIdentity {
    const peer = socket.getPeerCertificate();
    const spiffeId = peer === null || peer.raw === undefined ? null : spiffeIdOfSan(peer.subjectaltname);
    const isAllowed = this.isAllowedId === null ? true : spiffeId !== null && this.isAllowedId(spiffeId);
    const hash = peer?.raw === undefined ? '' : createHash('sha256').update(peer.raw).digest('hex');
    const value = `${this.byPart}Hash=${hash}${spiffeId === null ? '' : `;URI=${spiffeId}`}`;
    return {
      spiffeId,
      isAllowed,
      forwardedClientCertLine: `x-forwarded-client-cert: ${value}\r\n`,
      forwardedClientCert: value,
    };
  }
}
