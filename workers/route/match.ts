/**
 * @module workers/route/match
 *
 * Hot path of the **route** phase: which action a request gets. Rules are
 * tried in priority order; the first whose every condition holds wins, else
 * the default action. Thread: worker, once per request. Place in the flow:
 * readHead -> **route** -> pick | respond.
 *
 * Allocates nothing (H1): positions in the request target and the parsed
 * client address live in module-level scratch (one per worker thread), and
 * every comparison works on (string, start, end) ranges instead of slices.
 * Bounded (H3): rules, values and header counts are capped by config
 * validation (src/shared/limits.ts) and the parser; a wildcard match costs at
 * most text length x longest segment (see compile.ts).
 *
 * Semantics (ALB's): values within one condition OR, conditions AND. Host
 * patterns, header values and query strings compare ASCII letters
 * case-blind, paths and methods exactly. Query strings and paths are matched
 * as sent (not percent-decoded).
 */
import { IP_NONE, IP_V4, parseIp } from '../../src/shared/ip.ts';
import { hostLengthOf, pathEndOf, pathStartOf, type RequestHead } from '../http/index.ts';
import {
  type CidrTable,
  type CompiledListener,
  type CompiledRule,
  type HeaderCondition,
  type QueryCondition,
  WILDCARD_ONE,
  type WildcardPattern,
} from './compile.ts';

// === Scratch (per worker thread) ===
/** The path to match: the request target, or ROOT_PATH when the target has none. */
let pathText = '';
let pathStart = 0;
let pathEnd = 0;
/** Query range in the target (after `?`); queryStart === queryEnd when none. */
let queryStart = 0;
let queryEnd = 0;
/** Length of the Host value without its `:port`. */
let hostEnd = 0;
/** Client address: IP_* family and words, parsed at most once per request. */
let sourceFamily = IP_NONE;
const sourceWords = new Int32Array(4);

const ROOT_PATH = '/';

/**
 * The index (into `listener.actions`) of the action for this request: the
 * first matching rule's, or `listener.defaultActionIndex`. Synchronous,
 * never throws, never allocates.
 */
export function matchListener(listener: CompiledListener, req: RequestHead, remoteAddress: string): number {
  const rules = listener.rules;
  if (rules.length === 0) return listener.defaultActionIndex;
  const target = req.target;
  const start = pathStartOf(target);
  const end = pathEndOf(target, start);
  if (start < 0) {
    pathText = ROOT_PATH;
    pathStart = 0;
    pathEnd = 1;
  } else {
    pathText = target;
    pathStart = start;
    pathEnd = end;
  }
  queryStart = end < target.length ? end + 1 : end;
  queryEnd = target.length;
  hostEnd = hostLengthOf(req.host);
  sourceFamily = listener.hasSourceConditions ? parseIp(remoteAddress, sourceWords) : IP_NONE;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (matchRule(rule, req)) return rule.actionIndex;
  }
  return listener.defaultActionIndex;
}

/**
 * The index (into `listener.actions`) of the action for a TCP connection:
 * the first rule whose conditions all hold, else the default. `sni`
 * patterns match the name the ClientHello carried (`serverName`,
 * lower-case; '' when there was none or the bytes were not TLS, which no
 * sni condition matches); `sourceIp` matches the client (`sourceAddress`,
 * the one a trusted PROXY header named, if any). Synchronous, never throws,
 * never allocates.
 */
export function matchFlow(listener: CompiledListener, serverName: string, sourceAddress: string): number {
  const rules = listener.rules;
  if (rules.length === 0) return listener.defaultActionIndex;
  sourceFamily = listener.hasSourceConditions ? parseIp(sourceAddress, sourceWords) : IP_NONE;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const names = rule.serverNames;
    if (names.length > 0 && (serverName.length === 0 || !matchAny(names, serverName, 0, serverName.length)))
      continue;
    if (rule.sources !== null && !matchCidr(rule.sources, sourceFamily, sourceWords)) continue;
    return rule.actionIndex;
  }
  return listener.defaultActionIndex;
}

function matchRule(rule: CompiledRule, req: RequestHead): boolean {
  // Cheapest conditions first.
  if (rule.methods.length > 0 && !matchMethod(rule.methods, req.method)) return false;
  if (rule.sources !== null && !matchCidr(rule.sources, sourceFamily, sourceWords)) return false;
  if (rule.hosts.length > 0 && !matchAny(rule.hosts, req.host, 0, hostEnd)) return false;
  if (rule.paths.length > 0 && !matchAny(rule.paths, pathText, pathStart, pathEnd)) return false;
  const headers = rule.headers;
  for (let i = 0; i < headers.length; i++) if (!matchHeader(headers[i]!, req)) return false;
  if (rule.queries.length > 0 && !matchQuery(rule.queries, req.target)) return false;
  return true;
}

function matchMethod(methods: readonly string[], method: string): boolean {
  for (let i = 0; i < methods.length; i++) if (methods[i] === method) return true;
  return false;
}

function matchAny(patterns: readonly WildcardPattern[], text: string, start: number, end: number): boolean {
  for (let i = 0; i < patterns.length; i++) if (matchWildcard(patterns[i]!, text, start, end)) return true;
  return false;
}

/** Some header named `condition.name` has a value matching one of its patterns. */
function matchHeader(condition: HeaderCondition, req: RequestHead): boolean {
  const names = req.headerNames;
  const values = req.headerValues;
  for (let i = 0; i < req.headerCount; i++) {
    if (names[i] !== condition.name) continue;
    const value = values[i]!;
    if (matchAny(condition.values, value, 0, value.length)) return true;
  }
  return false;
}

/** Some query parameter matches one of the key/value pairs. */
function matchQuery(conditions: readonly QueryCondition[], target: string): boolean {
  let start = queryStart;
  while (start < queryEnd) {
    let end = target.indexOf('&', start);
    if (end === -1 || end > queryEnd) end = queryEnd;
    let eq = target.indexOf('=', start);
    if (eq === -1 || eq > end) eq = end;
    for (let i = 0; i < conditions.length; i++) {
      const condition = conditions[i]!;
      if (condition.key !== null && !equalsFolded(condition.key, target, start, eq)) continue;
      const valueStart = eq === end ? end : eq + 1;
      if (matchWildcard(condition.value, target, valueStart, end)) return true;
    }
    start = end + 1;
  }
  return false;
}

/** `lower` (already lower-case) equals text[start..end) compared case-blind. */
function equalsFolded(lower: string, text: string, start: number, end: number): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if (foldCode(text.charCodeAt(start + i)) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function foldCode(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code + 0x20 : code;
}

// === Wildcards ===
/**
 * Whether text[start..end) matches `pattern` (`*` any run, `?` one
 * character). Never allocates; O((end - start) x longest segment).
 */
export function matchWildcard(pattern: WildcardPattern, text: string, start: number, end: number): boolean {
  if (end - start < pattern.literalLength) return false;
  const segments = pattern.segments;
  const count = segments.length;
  const isFold = pattern.isCaseFold;
  if (count === 0) {
    // `*` (or `**`) matches anything; an empty pattern only the empty text.
    return !(pattern.isAnchoredStart && pattern.isAnchoredEnd) || start === end;
  }
  let first = 0;
  let last = count; // segments[first..last) are placed leftmost
  let pos = start;
  let limit = end;
  if (pattern.isAnchoredStart) {
    const segment = segments[0]!;
    if (pattern.isAnchoredEnd && count === 1) {
      return end - start === segment.length && segmentAt(segment, text, start, isFold);
    }
    if (!segmentAt(segment, text, start, isFold)) return false;
    pos = start + segment.length;
    first = 1;
  }
  if (pattern.isAnchoredEnd) {
    const segment = segments[count - 1]!;
    limit = end - segment.length;
    if (limit < pos || !segmentAt(segment, text, limit, isFold)) return false;
    last = count - 1;
  }
  for (let i = first; i < last; i++) {
    const segment = segments[i]!;
    const lastStart = limit - segment.length;
    let at = pos;
    while (at <= lastStart && !segmentAt(segment, text, at, isFold)) at++;
    if (at > lastStart) return false;
    pos = at + segment.length;
  }
  return true;
}

/** `segment` (with `?` as any one character) at text[at..]; the caller checked it fits. */
function segmentAt(segment: string, text: string, at: number, isFold: boolean): boolean {
  for (let k = 0; k < segment.length; k++) {
    const expected = segment.charCodeAt(k);
    if (expected === WILDCARD_ONE) continue;
    const code = text.charCodeAt(at + k);
    if ((isFold ? foldCode(code) : code) !== expected) return false;
  }
  return true;
}

// === CIDR ===
/**
 * Whether an address (IP_* family and words, as src/shared/ip.ts parses)
 * falls in any block of the table. IP_NONE matches nothing. Never allocates.
 */
export function matchCidr(table: CidrTable, family: number, words: Int32Array): boolean {
  if (family === IP_V4) {
    const address = words[0]!;
    const v4 = table.v4;
    for (let i = 0; i < table.v4Count; i++) {
      if ((address & v4[2 * i + 1]!) === v4[2 * i]!) return true;
    }
    return false;
  }
  if (family === IP_NONE) return false;
  const v6 = table.v6;
  for (let i = 0; i < table.v6Count; i++) {
    const row = 8 * i;
    if (
      (words[0]! & v6[row + 4]!) === v6[row]! &&
      (words[1]! & v6[row + 5]!) === v6[row + 1]! &&
      (words[2]! & v6[row + 6]!) === v6[row + 2]! &&
      (words[3]! & v6[row + 7]!) === v6[row + 3]!
    ) {
      return true;
    }
  }
  return false;
}
