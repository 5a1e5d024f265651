/**
 * @module src/shared/redact
 *
 * Takes credentials out of text Ferry shows people: the userinfo of any URL
 * (`https://user:password@host` -> `https://<redacted>@host`) and the values
 * of query or form parameters whose name says they are secret (`?token=…`,
 * `&api_key=…`, `;sig=…`). Thread: both; no I/O. Place in the flow: every
 * place a config value (or one from the environment, such as
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is rendered for a reader: config
 * errors (`ferry validate`, a failed start, a rejected reload, ferryctl),
 * `/status.json` and the status page, ferryctl's replies (issue 10).
 *
 * Why a text filter and not a field list: a URL may sit in any string (an
 * error message quoting a value, an environment variable), and a filter
 * applied where text leaves Ferry cannot miss a field added later. The
 * values Ferry *uses* are never changed, only what it shows.
 */

/** What a removed secret is shown as. */
export const REDACTED = '<redacted>';

/**
 * `scheme://userinfo@`: the userinfo is everything up to the last `@` before
 * the authority ends at `/`, `?`, `#` or whitespace (a password may hold `@`,
 * quotes or `<` when not percent-encoded, so only those four end it).
 * Linear: the runs between `@`s cannot overlap.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/gi;

/**
 * A parameter named like a secret, after `?`, `&`, `;` or `#`: its value runs
 * to the next separator. Names: anything containing token, secret, passw,
 * pwd, key, auth, sig, credential or session (`access_token`, `X-Api-Key`,
 * `client_secret`, `sessionid`, `signature`); redacting a harmless one costs
 * nothing but a less useful line.
 */
const SECRET_PARAMETER =
  /([?&;#][\w.~%-]*(?:token|secret|passw|pwd|key|auth|sig|credential|session)[\w.~%-]*=)[^&;#\s"'<>]*/gi;

/**
 * `text` with URL userinfo and secret-named parameter values replaced by
 * REDACTED. Text without `@` or `=` is returned as is (the common case costs
 * two indexOf). Thread: any. Never throws; allocates only when it replaces.
 */
export function redactSecrets(text: string): string {
  let out = text;
  if (out.indexOf('@') !== -1) out = out.replace(URL_USERINFO, `$1${REDACTED}@`);
  if (out.indexOf('=') !== -1) out = out.replace(SECRET_PARAMETER, `$1${REDACTED}`);
  return out;
}
