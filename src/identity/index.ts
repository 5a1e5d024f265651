/**
 * @module src/identity
 *
 * Mesh identity, main thread: Ferry's built-in CA (`ferry ca init | issue |
 * serve`) and the sidecar's workload certificate manager (requests an
 * X.509-SVID for its SPIFFE ID, renews it at about half its lifetime, and
 * writes it where the workers' TLS contexts read and reload it). Workers
 * never import this folder: they see files and SPIFFE ID patterns
 * (src/shared/spiffe.ts).
 */
export { runCa } from './ca-command.ts';
export { CA_FILES, type IssuingCa, initCa, loadIssuingCa } from './ca-store.ts';
export { type IssuedIdentity, requestIdentity } from './issuer-client.ts';
export {
  ISSUE_BODY_BYTES_MAX,
  ISSUE_PATH,
  type IssuingService,
  loadTokens,
  startIssuingService,
} from './issuing-service.ts';
export {
  type IdentityStatus,
  RENEW_DELAY_MS_MIN,
  RETRY_DELAY_MS_MAX,
  RETRY_DELAY_MS_MIN,
  WorkloadIdentity,
} from './workload-identity.ts';
