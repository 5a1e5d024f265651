/**
 * @module workers/route/compile
 *
 * Config time of the **route** phase: turns a listener's rules and actions
 * (TopologyRouting, as validated by src/config/routing-schema.ts) into flat
 * structures that workers/route/match.ts walks without allocating: wildcard
 * patterns split at `*` into literal segments, method lists, header and
 * query predicates, CIDR tables as Int32 (network, mask) rows, and for each
 * action its target-group indices, weighted rotation and prebuilt responses.
 * Thread: worker, when a topology arrives (allocates; never per request).
 *
 * Why segments: a pattern `a*b?c*d` is matched as `a` at the start, `d` at
 * the end and each middle segment at its leftmost place after the previous
 * one. Leftmost placement is always right for `*` (any later place leaves
 * less text for the rest), so there is no backtracking: the cost is at most
 * text length x longest segment, both bounded (HTTP_HEAD_BYTES_MAX,
 * ROUTE_PATTERN_LENGTH_MAX). A backtracking matcher (or a RegExp) is
 * exponential or quadratic in the worst case; an NFA/DFA per pattern would
 * allocate state per request or explode in size for `?`-heavy patterns.
 */
import type {
  TopologyAction,
  TopologyListener,
  TopologyRouting,
  TopologyRule,
} from '../../proto/thread-messages.ts';
import { assert } from '../../src/shared/assert.ts';
import { hashString } from '../../src/shared/hash.ts';
import { IP_V4, parseCidr, prefixMaskWord } from '../../src/shared/ip.ts';
import { buildSmoothSequence } from '../balance/index.ts';
import { FixedResponse, Redirect } from '../respond/index.ts';

// === Wildcard patterns ===
/** `?`: matches exactly one character. */
export const WILDCARD_ONE = 0x3f;

/** A wildcard pattern: literal segments between `*`s (`?` stays inside segments). */
export class WildcardPattern {
  /** As written in config. */
  readonly text: string;
  /** The pieces between `*`s, lower-cased when `isCaseFold`; empty pieces dropped. */
  readonly segments: readonly string[];
  /** No `*` before the first segment: it must match at the start. */
  readonly isAnchoredStart: boolean;
  /** No `*` after the last segment: it must match at the end. */
  readonly isAnchoredEnd: boolean;
  /** Sum of the segments' lengths: a shorter text cannot match. */
  readonly literalLength: number;
  /** Compare ASCII letters case-blind (host, header values, query strings). */
  readonly isCaseFold: boolean;

  constructor(text: string, isCaseFold: boolean) {
    this.text = text;
    const folded = isCaseFold ? foldAscii(text) : text;
    const pieces = folded.split('*');
    this.isAnchoredStart = !folded.startsWith('*');
    this.isAnchoredEnd = !folded.endsWith('*');
    this.segments = pieces.filter((piece) => piece.length > 0);
    this.literalLength = this.segments.reduce((sum, segment) => sum + segment.length, 0);
    this.isCaseFold = isCaseFold;
  }
}

/** Lower-case ASCII letters only (what the matcher folds); other characters stay. */
export function foldAscii(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

// === CIDR tables ===
/** CIDR blocks as Int32 rows: IPv4 (network, mask) pairs; IPv6 4 network words then 4 mask words. */
export class CidrTable {
  readonly v4: Int32Array;
  readonly v4Count: number;
  readonly v6: Int32Array;
  readonly v6Count: number;

  constructor(blocks: readonly string[]) {
    const v4: number[] = [];
    const v6: number[] = [];
    for (const block of blocks) {
      const parsed = parseCidr(block);
      assert(parsed.ok, `CIDR ${block} passed config validation but does not parse`);
      const { family, words, prefixLength } = parsed.value;
      if (family === IP_V4) v4.push(words[0], prefixMaskWord(prefixLength, 0));
      else {
        v6.push(words[0], words[1], words[2], words[3]);
        for (let i = 0; i < 4; i++) v6.push(prefixMaskWord(prefixLength, i));
      }
    }
    this.v4 = Int32Array.from(v4);
    this.v4Count = v4.length / 2;
    this.v6 = Int32Array.from(v6);
    this.v6Count = v6.length / 8;
  }
}

// === Rules ===
export class HeaderCondition {
  /** Lower-case header name. */
  readonly name: string;
  readonly values: readonly WildcardPattern[];

  constructor(name: string, values: readonly string[]) {
    this.name = name;
    this.values = values.map((value) => new WildcardPattern(value, true));
  }
}

export class QueryCondition {
  /** Lower-case parameter name, or null for any parameter. */
  readonly key: string | null;
  readonly value: WildcardPattern;

  constructor(key: string | null, value: string) {
    this.key = key;
    this.value = new WildcardPattern(value, true);
  }
}

/** One rule, compiled. An empty list (or null table) is no condition. */
export class CompiledRule {
  readonly priority: number;
  readonly methods: readonly string[];
  readonly sources: CidrTable | null;
  readonly hosts: readonly WildcardPattern[];
  readonly paths: readonly WildcardPattern[];
  readonly headers: readonly HeaderCondition[];
  readonly queries: readonly QueryCondition[];
  /** SNI patterns (TCP listeners, TLS passthrough); matched by matchFlow, never by matchListener. */
  readonly serverNames: readonly WildcardPattern[];
  /** Index into CompiledListener.actions. */
  readonly actionIndex: number;

  constructor(rule: TopologyRule, actionIndex: number) {
    const conditions = rule.conditions;
    this.priority = rule.priority;
    this.methods = [...conditions.httpRequestMethod];
    this.sources = conditions.sourceIp.length === 0 ? null : new CidrTable(conditions.sourceIp);
    this.hosts = conditions.hostHeader.map((pattern) => new WildcardPattern(pattern, true));
    this.paths = conditions.pathPattern.map((pattern) => new WildcardPattern(pattern, false));
    this.headers = conditions.httpHeader.map((header) => new HeaderCondition(header.name, header.values));
    this.queries = conditions.queryString.map((pair) => new QueryCondition(pair.key, pair.value));
    this.serverNames = (conditions.sni ?? []).map((pattern) => new WildcardPattern(pattern, true));
    this.actionIndex = actionIndex;
  }
}

// === Actions ===
/** Forward to target groups (the pick phase follows). */
export const ACTION_FORWARD = 1;
/** Answer with a redirect built from the request. */
export const ACTION_REDIRECT = 2;
/** Answer with a prebuilt fixed response. */
export const ACTION_FIXED_RESPONSE = 3;

/**
 * Largest weighted rotation of a forward action: 5 groups x 999 is 4,995
 * entries before the gcd, so this never scales weights in practice.
 */
const FORWARD_SEQUENCE_LENGTH_MAX = 8_192;

/** Prefix of the group-level stickiness cookie (`FERRYTG-<listener>-<priority|default>`). */
export const GROUP_COOKIE_PREFIX = 'FERRYTG-';

/**
 * One action, compiled. One class for every kind (fields of other kinds are
 * empty), so the route phase reads a monomorphic shape (H6).
 */
export class CompiledAction {
  readonly kind: number;
  // --- forward ---
  /** Target-group indices in the order configured; empty if none exists in this topology. */
  readonly groupIndices: Int32Array;
  readonly weights: Int32Array;
  /** hashString of each group's name: what a group-stickiness cookie names (stable across reloads). */
  readonly groupNameHashes: Int32Array;
  /** Smooth weighted rotation (positions into groupIndices); empty with a single group. */
  readonly sequence: Int32Array;
  /** This worker's place in `sequence`. Each worker rotates on its own: exact shares per worker. */
  cursor: number;
  readonly isSticky: boolean;
  readonly cookieName: string;
  readonly corsCookieName: string;
  readonly stickyDurationS: number;
  // --- redirect / fixed response ---
  readonly redirect: Redirect | null;
  readonly fixed: FixedResponse | null;

  constructor(action: TopologyAction, cookieScope: string, groupIndexByName: ReadonlyMap<string, number>) {
    const empty = new Int32Array(0);
    this.groupIndices = empty;
    this.weights = empty;
    this.groupNameHashes = empty;
    this.sequence = empty;
    this.cursor = 0;
    this.isSticky = false;
    this.cookieName = '';
    this.corsCookieName = '';
    this.stickyDurationS = 0;
    this.redirect = null;
    this.fixed = null;
    switch (action.type) {
      case 'forward': {
        this.kind = ACTION_FORWARD;
        const known = action.targetGroups.filter((group) => groupIndexByName.has(group.name));
        this.groupIndices = Int32Array.from(known, (group) => groupIndexByName.get(group.name)!);
        this.weights = Int32Array.from(known, (group) => group.weight);
        this.groupNameHashes = Int32Array.from(known, (group) => hashString(group.name));
        if (known.length > 1) this.sequence = buildSmoothSequence(this.weights, FORWARD_SEQUENCE_LENGTH_MAX);
        if (action.stickiness.enabled && known.length > 1) {
          this.isSticky = true;
          this.cookieName = `${GROUP_COOKIE_PREFIX}${cookieScope}`;
          this.corsCookieName = `${GROUP_COOKIE_PREFIX.slice(0, -1)}CORS-${cookieScope}`;
          this.stickyDurationS = Math.max(1, Math.ceil(action.stickiness.durationMs / 1000));
        }
        break;
      }
      case 'redirect':
        this.kind = ACTION_REDIRECT;
        this.redirect = new Redirect(action);
        break;
      case 'fixedResponse':
        this.kind = ACTION_FIXED_RESPONSE;
        this.fixed = new FixedResponse(action);
        break;
    }
  }
}

// === Listeners ===
/** A listener's routing, compiled: rules in priority order, then the default action. */
export class CompiledListener {
  readonly name: string;
  readonly rules: readonly CompiledRule[];
  /** Every action: one per rule (same order), the default action last. */
  readonly actions: readonly CompiledAction[];
  /** Per action: the rule's priority as text, or `default` (access log `rule`, span `ferry.rule`; built once, H2). */
  readonly actionLabels: readonly string[];
  readonly defaultActionIndex: number;
  /** Some rule has a sourceIp condition: parse the client address once per request. */
  readonly hasSourceConditions: boolean;
  /** Some rule has an sni condition: a TCP listener peeks at the ClientHello (workers/l4). */
  readonly hasSniConditions: boolean;
  /** `http` or `https`: what `#{protocol}` stands for. */
  readonly protocol: string;
  readonly host: string;
  readonly port: number;

  constructor(listener: TopologyListener, groupIndexByName: ReadonlyMap<string, number>) {
    this.name = listener.name;
    const routing = listener.routing ?? defaultRouting(listener, groupIndexByName);
    const actions: CompiledAction[] = [];
    const rules: CompiledRule[] = [];
    const sorted = [...routing.rules].sort((a, b) => a.priority - b.priority);
    for (const rule of sorted) {
      rules.push(new CompiledRule(rule, actions.length));
      actions.push(new CompiledAction(rule.action, `${listener.name}-${rule.priority}`, groupIndexByName));
    }
    this.defaultActionIndex = actions.length;
    actions.push(new CompiledAction(routing.defaultAction, `${listener.name}-default`, groupIndexByName));
    this.rules = rules;
    this.actions = actions;
    this.actionLabels = [...rules.map((rule) => String(rule.priority)), 'default'];
    this.hasSourceConditions = rules.some((rule) => rule.sources !== null);
    this.hasSniConditions = rules.some((rule) => rule.serverNames.length > 0);
    this.protocol = listener.protocol === 'HTTPS' ? 'https' : 'http';
    this.host = listener.host;
    this.port = listener.port;
  }
}

/** A topology without routing (older main, tests): forward everything to the default group. */
function defaultRouting(
  listener: TopologyListener,
  groupIndexByName: ReadonlyMap<string, number>,
): TopologyRouting {
  let name = '';
  for (const [groupName, index] of groupIndexByName)
    if (index === listener.defaultGroupIndex) name = groupName;
  return {
    rules: [],
    defaultAction: {
      type: 'forward',
      targetGroups: name === '' ? [] : [{ name, weight: 1 }],
      stickiness: { enabled: false, durationMs: 1_000 },
    },
    scheme: 'internet-facing',
    allowedSources: [],
    internalSources: [],
  };
}
