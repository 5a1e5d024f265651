/**
 * @module workers/route/sticky
 *
 * Sticky sessions, ELB style: the cookies that keep a client on one target
 * (target-group `stickiness`, lb_cookie or app_cookie) or on one target group
 * (a weighted forward's group-level `stickiness`). Thread: worker. Place in
 * the flow: route (group stickiness) -> **pick** (target stickiness) ->
 * ... -> response head (Set-Cookie, workers/l7 buildResponseHead).
 *
 * The cookie is opaque and authenticated:
 *
 *   value = base64url( payload(13) | tag(16) )                    39 chars
 *   payload = version<<4|kind (1) | id (4) | generation (4) | expiry Unix s (4)
 *   tag     = HMAC-SHA256(key, payload | cookie name | 0 | app session)[0..16]
 *
 *   id: the target's slot (lb/app) or hashString(group name) (group-level)
 *   generation: TARGET_GENERATION of the slot when the cookie was made, so a
 *               slot reused by another target makes the cookie stale ("gone")
 *
 * It never holds the target's address; a slot number means nothing outside
 * this Ferry. The key is made by main at boot (src/table, Topology
 * `stickinessKey`), so every worker, and a restarted one, accepts what any
 * other set; a Ferry restart makes old cookies invalid (clients are balanced
 * again, nothing fails). A forged, tampered, truncated or expired cookie is
 * treated exactly as no cookie. The expiry inside is checked here (a client
 * can replay an old cookie whatever its Expires said); every response of a
 * sticky exchange sets the cookie again with a new expiry, so stickiness lasts
 * `duration` from the last request.
 *
 * Attributes follow the listener's scheme (CookieAttributes, issue 10), as
 * ALB's AWSALB / AWSALBCORS do where browsers take them:
 *
 *   HTTPS  cookie   Path=/; Secure; HttpOnly; SameSite=Lax
 *          …CORS    Path=/; Secure; HttpOnly; SameSite=None   (cross-site requests)
 *   HTTP   cookie   Path=/; HttpOnly; SameSite=Lax
 *          no …CORS: SameSite=None needs Secure, and a Secure cookie set over
 *          http is dropped by browsers (ALB sends it anyway; it is ignored)
 *
 * Cost: HMAC through node:crypto allocates (a Hmac object and digests), so
 * verified cookies are cached (a small direct-mapped cache keyed by the
 * cookie text) and Set-Cookie lines are cached per target per expiry second;
 * a busy sticky group costs a few HMACs per target per second, not one per
 * request. app_cookie binds the application's session value into the tag,
 * so its lines are cached per session as well.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hashString } from '../../src/shared/hash.ts';
import type { RequestHead, ResponseHead } from '../http/index.ts';
import { cookieValue } from './hash-key.ts';

/** Cookie kinds (in the payload, so one kind's cookie is never another's). */
export const STICKY_KIND_LB = 1;
export const STICKY_KIND_APP = 2;
export const STICKY_KIND_GROUP = 3;

const FORMAT_VERSION = 1;
const PAYLOAD_BYTES = 13;
const TAG_BYTES = 16;
const COOKIE_BYTES = PAYLOAD_BYTES + TAG_BYTES;
/** base64url of COOKIE_BYTES without padding. */
export const STICKY_COOKIE_CHARS = Math.ceil((COOKIE_BYTES * 4) / 3);
/** Verified cookies remembered per worker (a power of two: direct-mapped by hash). */
const VERIFY_CACHE_SIZE = 256;
/** Set-Cookie lines remembered per sticky group or action (by slot or member, low bits). */
export const LINE_CACHE_SIZE = 64;

const NO_SESSION = '';

/**
 * Encodes and verifies stickiness cookies with one key. One per worker.
 * `verify` leaves what it read in `id`, `generation` and `expiryS` (no
 * result object, H1).
 */
export class StickyCodec {
  private readonly key: Buffer;
  /** Reused for every payload (H1); copied into the cookie by encode. */
  private readonly payload: Buffer;
  private readonly cacheValues: string[];
  private readonly cacheNames: string[];
  private readonly cacheSessions: string[];
  private readonly cacheIds: Int32Array;
  private readonly cacheGenerations: Int32Array;
  private readonly cacheExpiryS: Float64Array;
  /** Fields of the last cookie verify() accepted. */
  id: number;
  generation: number;
  expiryS: number;

  constructor(keyBase64: string) {
    this.key = Buffer.from(keyBase64, 'base64');
    this.payload = Buffer.alloc(PAYLOAD_BYTES);
    this.cacheValues = new Array<string>(VERIFY_CACHE_SIZE).fill('');
    this.cacheNames = new Array<string>(VERIFY_CACHE_SIZE).fill('');
    this.cacheSessions = new Array<string>(VERIFY_CACHE_SIZE).fill('');
    this.cacheIds = new Int32Array(VERIFY_CACHE_SIZE);
    this.cacheGenerations = new Int32Array(VERIFY_CACHE_SIZE);
    this.cacheExpiryS = new Float64Array(VERIFY_CACHE_SIZE);
    this.id = 0;
    this.generation = 0;
    this.expiryS = 0;
  }

  /** A cookie value naming (kind, id, generation) until expiryS. Allocates the string. */
  encode(
    kind: number,
    cookieName: string,
    id: number,
    generation: number,
    expiryS: number,
    session: string,
  ): string {
    const payload = this.payload;
    payload[0] = (FORMAT_VERSION << 4) | kind;
    payload.writeUInt32BE(id >>> 0, 1);
    payload.writeInt32BE(generation | 0, 5);
    payload.writeUInt32BE(expiryS >>> 0, 9);
    const tag = this.tag(payload, cookieName, session);
    return Buffer.concat([payload, tag.subarray(0, TAG_BYTES)]).toString('base64url');
  }

  /**
   * True when `value` is a cookie of `kind` made with this key for
   * `cookieName` (and `session`) that has not expired at `nowS`; then `id`,
   * `generation` and `expiryS` hold its fields. Anything else (garbage,
   * another key, a flipped bit, another name or session, expired) is false.
   */
  verify(kind: number, cookieName: string, value: string, session: string, nowS: number): boolean {
    if (value.length !== STICKY_COOKIE_CHARS) return false;
    const slot = hashString(value) & (VERIFY_CACHE_SIZE - 1);
    if (
      this.cacheValues[slot] === value &&
      this.cacheNames[slot] === cookieName &&
      this.cacheSessions[slot] === session
    ) {
      return this.accept(this.cacheIds[slot]!, this.cacheGenerations[slot]!, this.cacheExpiryS[slot]!, nowS);
    }
    const bytes = Buffer.from(value, 'base64url');
    if (bytes.length !== COOKIE_BYTES || bytes[0] !== ((FORMAT_VERSION << 4) | kind)) return false;
    const payload = bytes.subarray(0, PAYLOAD_BYTES);
    const expected = this.tag(payload, cookieName, session).subarray(0, TAG_BYTES);
    if (!timingSafeEqual(expected, bytes.subarray(PAYLOAD_BYTES))) return false;
    const id = payload.readUInt32BE(1) | 0;
    const generation = payload.readInt32BE(5);
    const expiryS = payload.readUInt32BE(9);
    this.cacheValues[slot] = value;
    this.cacheNames[slot] = cookieName;
    this.cacheSessions[slot] = session;
    this.cacheIds[slot] = id;
    this.cacheGenerations[slot] = generation;
    this.cacheExpiryS[slot] = expiryS;
    return this.accept(id, generation, expiryS, nowS);
  }

  private accept(id: number, generation: number, expiryS: number, nowS: number): boolean {
    if (nowS >= expiryS) return false;
    this.id = id;
    this.generation = generation;
    this.expiryS = expiryS;
    return true;
  }

  private tag(payload: Buffer, cookieName: string, session: string): Buffer {
    const hmac = createHmac('sha256', this.key).update(payload).update(cookieName, 'latin1').update('\0');
    if (session !== NO_SESSION) hmac.update(session, 'latin1');
    return hmac.digest();
  }
}

// === Set-Cookie attributes per scheme ===
/**
 * The attributes of Ferry's cookies on one kind of listener, fixed strings
 * chosen once per listener when it is bound (H2). `index` picks the scheme's
 * line cache, so HTTP and HTTPS responses of one group never share a line.
 */
export class CookieAttributes {
  /** 0 for HTTP, 1 for HTTPS: the LineCache a group keeps for this scheme. */
  readonly index: number;
  /** After `name=value; Expires=…` of the cookie. */
  readonly cookie: string;
  /** After `name=value; Expires=…` of the `…CORS` companion; '' when there is none. */
  readonly cors: string;

  constructor(index: number, cookie: string, cors: string) {
    this.index = index;
    this.cookie = cookie;
    this.cors = cors;
  }
}

export const COOKIE_ATTRIBUTES_HTTP = new CookieAttributes(0, '; Path=/; HttpOnly; SameSite=Lax', '');
export const COOKIE_ATTRIBUTES_HTTPS = new CookieAttributes(
  1,
  '; Path=/; Secure; HttpOnly; SameSite=Lax',
  '; Path=/; Secure; HttpOnly; SameSite=None',
);
/** Line caches a sticky group keeps: one per CookieAttributes index. */
const COOKIE_SCHEME_COUNT = 2;

/** The attributes for a listener's protocol (HTTPS, or anything else: HTTP). Config time. */
export function cookieAttributesFor(protocol: string): CookieAttributes {
  return protocol === 'HTTPS' ? COOKIE_ATTRIBUTES_HTTPS : COOKIE_ATTRIBUTES_HTTP;
}

// === Set-Cookie lines ===
/** `Expires` text per Unix second, cached for the last second asked (every line of a second shares it). */
let expiresForS = -1;
let expiresText = '';

function expiresAt(expiryS: number): string {
  if (expiryS !== expiresForS) {
    expiresForS = expiryS;
    expiresText = new Date(expiryS * 1000).toUTCString();
  }
  return expiresText;
}

/**
 * The Set-Cookie header lines of a stickiness cookie: the cookie and, on
 * HTTPS, its `…CORS` companion for cross-site requests (ALB's AWSALBCORS).
 * HttpOnly: no script needs to read them. Allocates.
 */
export function setCookieLines(
  name: string,
  corsName: string,
  value: string,
  expiryS: number,
  attributes: CookieAttributes,
): string {
  const expires = expiresAt(expiryS);
  const line = `set-cookie: ${name}=${value}; Expires=${expires}${attributes.cookie}\r\n`;
  if (attributes.cors === '') return line;
  return `${line}set-cookie: ${corsName}=${value}; Expires=${expires}${attributes.cors}\r\n`;
}

/** The same cookies as Set-Cookie field values, pushed onto an HTTP/2 response's set-cookie list. */
export function pushSetCookies(
  out: string[],
  name: string,
  corsName: string,
  value: string,
  expiryS: number,
  attributes: CookieAttributes,
): void {
  const expires = expiresAt(expiryS);
  out.push(`${name}=${value}; Expires=${expires}${attributes.cookie}`);
  if (attributes.cors !== '') out.push(`${corsName}=${value}; Expires=${expires}${attributes.cors}`);
}

/**
 * A small cache of Set-Cookie lines by (id, generation, expiry second,
 * session): refreshing the cookie on every response costs an HMAC only when
 * the second (or the target) changes. Direct-mapped on the id's low bits.
 */
export class LineCache {
  private readonly ids: Int32Array;
  private readonly generations: Int32Array;
  private readonly expiryS: Float64Array;
  private readonly sessions: string[];
  private readonly lines: string[];

  constructor() {
    this.ids = new Int32Array(LINE_CACHE_SIZE).fill(-1);
    this.generations = new Int32Array(LINE_CACHE_SIZE);
    this.expiryS = new Float64Array(LINE_CACHE_SIZE);
    this.sessions = new Array<string>(LINE_CACHE_SIZE).fill('');
    this.lines = new Array<string>(LINE_CACHE_SIZE).fill('');
  }

  /** Cached lines for the key, or '' when not cached. */
  get(id: number, generation: number, expiryS: number, session: string): string {
    const at = id & (LINE_CACHE_SIZE - 1);
    if (
      this.ids[at] === id &&
      this.generations[at] === generation &&
      this.expiryS[at] === expiryS &&
      this.sessions[at] === session
    ) {
      return this.lines[at]!;
    }
    return '';
  }

  set(id: number, generation: number, expiryS: number, session: string, lines: string): void {
    const at = id & (LINE_CACHE_SIZE - 1);
    this.ids[at] = id;
    this.generations[at] = generation;
    this.expiryS[at] = expiryS;
    this.sessions[at] = session;
    this.lines[at] = lines;
  }
}

// === Per-group stickiness ===
/** Prefixes of Ferry's own target-stickiness cookies (`FERRYLB-<group>`, `FERRYAPP-<group>`). */
export const LB_COOKIE_PREFIX = 'FERRYLB-';
export const LB_CORS_COOKIE_PREFIX = 'FERRYLBCORS-';
export const APP_COOKIE_PREFIX = 'FERRYAPP-';
export const APP_CORS_COOKIE_PREFIX = 'FERRYAPPCORS-';

/** A target group's stickiness attributes, compiled (only for groups with stickiness enabled). */
export class StickyGroup {
  readonly groupIndex: number;
  readonly kind: number;
  /** Ferry's cookie and its companion. */
  readonly cookieName: string;
  readonly corsCookieName: string;
  /** app_cookie: the application's session cookie; '' for lb_cookie. */
  readonly appCookieName: string;
  readonly durationS: number;
  /** Set-Cookie lines by CookieAttributes index (HTTP, HTTPS). */
  readonly lines: readonly LineCache[];

  constructor(
    groupIndex: number,
    groupName: string,
    type: 'lb_cookie' | 'app_cookie',
    durationMs: number,
    appCookieName: string,
  ) {
    const isApp = type === 'app_cookie';
    this.groupIndex = groupIndex;
    this.kind = isApp ? STICKY_KIND_APP : STICKY_KIND_LB;
    this.cookieName = `${isApp ? APP_COOKIE_PREFIX : LB_COOKIE_PREFIX}${groupName}`;
    this.corsCookieName = `${isApp ? APP_CORS_COOKIE_PREFIX : LB_CORS_COOKIE_PREFIX}${groupName}`;
    this.appCookieName = isApp ? appCookieName : '';
    this.durationS = Math.max(1, Math.ceil(durationMs / 1000));
    this.lines = Array.from({ length: COOKIE_SCHEME_COUNT }, () => new LineCache());
  }
}

// === Cookies in requests and responses ===
/** Value of cookie `name` in the request's Cookie header(s), or ''. Allocates only the value. */
export function requestCookie(req: RequestHead, name: string): string {
  const names = req.headerNames;
  for (let i = 0; i < req.headerCount; i++) {
    if (names[i] !== 'cookie') continue;
    const value = cookieValue(req.headerValues[i]!, name);
    if (value !== '') return value;
  }
  return '';
}

/**
 * Value the response sets for cookie `name` (a `Set-Cookie: name=value; …`
 * line), or '' when it sets none (or sets it empty, which ends a session).
 * Allocates only the value.
 */
export function responseSetCookie(res: ResponseHead, name: string): string {
  const names = res.headerNames;
  const values = res.headerValues;
  let found = '';
  for (let i = 0; i < res.headerCount; i++) {
    if (names[i] !== 'set-cookie') continue;
    const line = values[i]!;
    let start = 0;
    while (line.charCodeAt(start) === 0x20) start++;
    if (!line.startsWith(name, start) || line.charCodeAt(start + name.length) !== 0x3d) continue;
    let end = line.indexOf(';', start);
    if (end === -1) end = line.length;
    found = line.slice(start + name.length + 1, end).trim();
  }
  return found;
}

/** How an exchange's target cookie is written in its response. */
const BIND_NONE = 0;
/** Write Ferry's cookie for the picked target. */
const BIND_ALWAYS = 1;
/** app_cookie without a binding yet: write it only if the response sets the application's cookie. */
const BIND_IF_APP_SETS = 2;

/**
 * What one exchange's response must set: the group-level cookie (chosen in
 * route) and the target cookie (chosen in pick). One per downstream
 * connection, reset per request (H6: every field set in the constructor).
 */
export class ExchangeCookies {
  /** Group-level (a sticky weighted forward): the cookie's names, value ('' for none) and expiry. */
  groupCookieName: string;
  groupCorsCookieName: string;
  groupValue: string;
  groupExpiryS: number;
  /** Target-level: the group's stickiness, the target picked and how to bind it. */
  sticky: StickyGroup | null;
  slot: number;
  generation: number;
  session: string;
  bind: number;

  constructor() {
    this.groupCookieName = '';
    this.groupCorsCookieName = '';
    this.groupValue = '';
    this.groupExpiryS = 0;
    this.sticky = null;
    this.slot = -1;
    this.generation = 0;
    this.session = NO_SESSION;
    this.bind = BIND_NONE;
  }

  reset(): void {
    this.groupCookieName = '';
    this.groupCorsCookieName = '';
    this.groupValue = '';
    this.groupExpiryS = 0;
    this.sticky = null;
    this.slot = -1;
    this.generation = 0;
    this.session = NO_SESSION;
    this.bind = BIND_NONE;
  }

  /** True when the response sets no stickiness cookie at all. */
  get isEmpty(): boolean {
    return this.sticky === null && this.groupValue === '';
  }

  /** Bind the client to the group a sticky weighted forward chose (the response sets the group cookie). */
  bindGroup(cookieName: string, corsCookieName: string, value: string, expiryS: number): void {
    this.groupCookieName = cookieName;
    this.groupCorsCookieName = corsCookieName;
    this.groupValue = value;
    this.groupExpiryS = expiryS;
  }

  /** Bind the session to the target in the response (lb_cookie; app_cookie hit or re-pick). */
  bindTarget(sticky: StickyGroup, slot: number, generation: number, session: string): void {
    this.sticky = sticky;
    this.slot = slot;
    this.generation = generation;
    this.session = session;
    this.bind = BIND_ALWAYS;
  }

  /** app_cookie before the application set its cookie: bind only if this response sets it. */
  awaitAppCookie(sticky: StickyGroup, slot: number, generation: number): void {
    this.sticky = sticky;
    this.slot = slot;
    this.generation = generation;
    this.session = NO_SESSION;
    this.bind = BIND_IF_APP_SETS;
  }
}

/** The group cookie's Set-Cookie lines, '' when the exchange has none. */
function groupCookieLines(cookies: ExchangeCookies, attributes: CookieAttributes): string {
  if (cookies.groupValue === '') return '';
  return setCookieLines(
    cookies.groupCookieName,
    cookies.groupCorsCookieName,
    cookies.groupValue,
    cookies.groupExpiryS,
    attributes,
  );
}

/**
 * The session value the target cookie binds in this response (lb_cookie:
 * NO_SESSION), or null when no target cookie is written: not sticky, or
 * app_cookie before the application set its cookie.
 */
function boundSession(codec: StickyCodec | null, cookies: ExchangeCookies, res: ResponseHead): string | null {
  const sticky = cookies.sticky;
  if (sticky === null || codec === null || cookies.bind === BIND_NONE) return null;
  if (sticky.kind !== STICKY_KIND_APP) return cookies.session;
  // The application (re)starting its session names the value to bind from now on.
  const set = responseSetCookie(res, sticky.appCookieName);
  const session = set !== '' ? set : cookies.session;
  return session === NO_SESSION ? null : session;
}

/**
 * The Set-Cookie lines a proxied HTTP/1.1 response gets (group and target
 * cookies, with the listener's `attributes`), '' for none. Called while
 * building the response head. Allocates only when a line is not cached.
 */
export function stickyResponseLines(
  codec: StickyCodec | null,
  cookies: ExchangeCookies,
  res: ResponseHead,
  nowS: number,
  attributes: CookieAttributes,
): string {
  const groupLines = groupCookieLines(cookies, attributes);
  const session = boundSession(codec, cookies, res);
  const sticky = cookies.sticky;
  if (session === null || sticky === null || codec === null) return groupLines;
  const expiryS = nowS + sticky.durationS;
  const cache = sticky.lines[attributes.index]!;
  let lines = cache.get(cookies.slot, cookies.generation, expiryS, session);
  if (lines === '') {
    const value = targetCookieValue(codec, sticky, cookies, expiryS, session);
    lines = setCookieLines(sticky.cookieName, sticky.corsCookieName, value, expiryS, attributes);
    cache.set(cookies.slot, cookies.generation, expiryS, session, lines);
  }
  return groupLines === '' ? lines : groupLines + lines;
}

/**
 * The same cookies as Set-Cookie field values for an HTTP/2 response,
 * pushed onto `out` (no HTTP/1 text in between). Allocates.
 */
export function pushStickyResponseCookies(
  out: string[],
  codec: StickyCodec | null,
  cookies: ExchangeCookies,
  res: ResponseHead,
  nowS: number,
  attributes: CookieAttributes,
): void {
  if (cookies.groupValue !== '')
    pushSetCookies(
      out,
      cookies.groupCookieName,
      cookies.groupCorsCookieName,
      cookies.groupValue,
      cookies.groupExpiryS,
      attributes,
    );
  const session = boundSession(codec, cookies, res);
  const sticky = cookies.sticky;
  if (session === null || sticky === null || codec === null) return;
  const expiryS = nowS + sticky.durationS;
  const value = targetCookieValue(codec, sticky, cookies, expiryS, session);
  pushSetCookies(out, sticky.cookieName, sticky.corsCookieName, value, expiryS, attributes);
}

/** The target cookie's value: the exchange's slot and generation, sealed by the codec. Allocates. */
function targetCookieValue(
  codec: StickyCodec,
  sticky: StickyGroup,
  cookies: ExchangeCookies,
  expiryS: number,
  session: string,
): string {
  return codec.encode(sticky.kind, sticky.cookieName, cookies.slot, cookies.generation, expiryS, session);
}
