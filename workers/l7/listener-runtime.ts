/**
 * @module workers/l7/listener-runtime
 *
 * What one HTTP or HTTPS listener precomputes for the requests it carries
 * (STYLE H2), shared by the HTTP/1.1 proxy (index.ts) and HTTP/2 streams
 * (h2/). Thread: worker. Built at bind time (workers/listen).
 */
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { type CookieAttributes, cookieAttributesFor } from '../route/index.ts';
import { PeerIdentityCheck } from '../tls/index.ts';

/** `headersWithUnderscores` as an integer for the hot path. */
export const UNDERSCORE_ALLOW = 0;
export const UNDERSCORE_DROP = 1;
export const UNDERSCORE_REJECT = 2;

/** Precomputed per-listener strings (H2). */
export class ListenerRuntime {
  readonly listener: TopologyListener;
  /** `x-forwarded-proto` and `x-forwarded-port` header lines for this listener. */
  readonly forwardedLines: string;
  /** UNDERSCORE_* (issue 10): what happens to request header names with `_`. */
  readonly underscoreAction: number;
  /** Identity of mTLS callers (workers/tls/peer-identity.ts); null when the listener asks for no client certificate. */
  readonly peerCheck: PeerIdentityCheck | null;
  /** Stickiness cookie attributes for this listener's scheme (workers/route/sticky.ts, issue 10). */
  readonly cookieAttributes: CookieAttributes;

  constructor(listener: TopologyListener) {
    this.listener = listener;
    const peerIdentity = listener.tls?.peerIdentity ?? null;
    this.peerCheck = peerIdentity === null ? null : new PeerIdentityCheck(peerIdentity);
    const proto = listener.protocol === 'HTTPS' ? 'https' : 'http';
    this.cookieAttributes = cookieAttributesFor(listener.protocol);
    this.forwardedLines = `x-forwarded-proto: ${proto}\r\nx-forwarded-port: ${listener.port}\r\n`;
    const action = listener.headersWithUnderscores ?? 'drop';
    this.underscoreAction =
      action === 'allow' ? UNDERSCORE_ALLOW : action === 'reject' ? UNDERSCORE_REJECT : UNDERSCORE_DROP;
  }
}
