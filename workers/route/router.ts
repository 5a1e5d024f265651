/**
 * @module workers/route/router
 *
 * A worker's routing state and the decisions that use it: each listener's
 * compiled rules (compile.ts, matched by match.ts), which target group a
 * weighted forward sends a request to (with group-level stickiness), and
 * sticky target picks around the group's balancer (sticky.ts). Thread:
 * worker. Place in the flow: readHead -> **route** -> **pick** -> connect.
 *
 * Rebuilt from each topology main sends (config applied or reloaded), so
 * rules, actions and stickiness attributes change at run time; group indices
 * are resolved from names here, so a reload that reorders groups is safe.
 *
 * Sticky pick (target-group stickiness of the group that serves the request,
 * i.e. after following a failover pointer):
 *
 *   cookie valid? ──no──> MISS: balance; lb_cookie: set cookie; app_cookie: set it once the app does
 *        │yes
 *   its slot still this target, in this group, routable? ──no──> RE-PICK: balance, rewrite cookie
 *        │yes
 *   HIT: that slot (no balancer call), refresh cookie
 *
 * Every outcome is counted in the serving group's row (GROUP_STICKY_*).
 */
import {
  addGroup,
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_FORWARD_STICKY_MISSES_TOTAL,
  GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  GROUP_ROUTE_TO,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  isTargetRoutable,
  loadGroup,
  loadTarget,
  NO_SLOT,
  TARGET_GENERATION,
  TARGET_GROUP_INDEX,
  type TableView,
} from '../../proto/table-layout.ts';
import type { Topology } from '../../proto/thread-messages.ts';
import { unixS } from '../../src/shared/clock.ts';
import { RETRY_PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import type { RequestHead, ResponseHead } from '../http/index.ts';
import { type CompiledAction, CompiledListener } from './compile.ts';
import { type FlowTuple, flowKeyHash } from './flow-tuple.ts';
import { requestKeyHash } from './hash-key.ts';
import {
  PICK_STICKY,
  type PickOutcome,
  STICKY_HIT,
  STICKY_MISS,
  STICKY_NONE,
  STICKY_REPICK,
} from './pick.ts';
import {
  type CookieAttributes,
  type ExchangeCookies,
  pushStickyResponseCookies,
  requestCookie,
  STICKY_KIND_APP,
  STICKY_KIND_GROUP,
  StickyCodec,
  StickyGroup,
  stickyResponseLines,
} from './sticky.ts';
import type { TargetGroups } from './target-groups.ts';

export class Router {
  private readonly view: TableView;
  private readonly groups: TargetGroups;
  private codec: StickyCodec | null;
  /** The key `codec` was made with. */
  private codecKey: string;
  private listeners: Map<string, CompiledListener>;
  /** Stickiness by group index; null where off. */
  private stickyGroups: (StickyGroup | null)[];

  constructor(view: TableView, groups: TargetGroups, topology: Topology) {
    this.view = view;
    this.groups = groups;
    this.codec = null;
    this.codecKey = '';
    this.listeners = new Map();
    this.stickyGroups = [];
    this.apply(topology);
  }

  /** Compile a new topology's routing and stickiness. Allocates; message time only. */
  apply(topology: Topology): void {
    const groupIndexByName = new Map<string, number>();
    const stickyGroups: (StickyGroup | null)[] = [];
    for (const group of topology.groups) {
      groupIndexByName.set(group.name, group.groupIndex);
      const stickiness = group.stickiness;
      stickyGroups[group.groupIndex] =
        stickiness?.enabled === true
          ? new StickyGroup(
              group.groupIndex,
              group.name,
              stickiness.type,
              stickiness.durationMs,
              stickiness.cookieName,
            )
          : null;
    }
    const listeners = new Map<string, CompiledListener>();
    for (const listener of topology.listeners) {
      listeners.set(listener.name, new CompiledListener(listener, groupIndexByName));
    }
    // Keep the codec (and its cache) while the key stays; it does for the life of main.
    if (topology.stickinessKey === undefined) this.codec = null;
    else if (this.codec === null || this.codecKey !== topology.stickinessKey) {
      this.codec = new StickyCodec(topology.stickinessKey);
      this.codecKey = topology.stickinessKey;
    }
    this.listeners = listeners;
    this.stickyGroups = stickyGroups;
  }

  /** The compiled routing of a listener, by name. */
  listener(name: string): CompiledListener | undefined {
    return this.listeners.get(name);
  }

  /**
   * The target group a forward action sends this request to: its only
   * group, or by weight (this worker's smooth rotation), honouring a valid
   * group-stickiness cookie. Binds the group cookie in `cookies` when the
   * action is sticky. Returns -1 when the action names no group of this topology.
   * Synchronous; allocates only to read and (re)write the cookie.
   */
  pickForwardGroup(action: CompiledAction, req: RequestHead, cookies: ExchangeCookies): number {
    const indices = action.groupIndices;
    if (indices.length <= 1) return indices.length === 0 ? -1 : indices[0]!;
    const codec = this.codec;
    const isSticky = action.isSticky && codec !== null;
    let counter = GROUP_FORWARD_STICKY_MISSES_TOTAL;
    let nowS = 0;
    if (isSticky) {
      nowS = unixS();
      const value = requestCookie(req, action.cookieName) || requestCookie(req, action.corsCookieName);
      if (value !== '' && codec.verify(STICKY_KIND_GROUP, action.cookieName, value, '', nowS)) {
        const named = codec.id;
        const hashes = action.groupNameHashes;
        for (let i = 0; i < hashes.length; i++) {
          if (hashes[i] === named && action.weights[i]! > 0) {
            addGroup(this.view, indices[i]!, GROUP_FORWARD_STICKY_HITS_TOTAL, 1);
            this.bindGroupCookie(cookies, action, codec, i, nowS);
            return indices[i]!;
          }
        }
        counter = GROUP_FORWARD_STICKY_REPICKS_TOTAL;
      }
    }
    const sequence = action.sequence;
    const position = sequence[action.cursor]!;
    action.cursor = action.cursor + 1 === sequence.length ? 0 : action.cursor + 1;
    if (isSticky) {
      addGroup(this.view, indices[position]!, counter, 1);
      this.bindGroupCookie(cookies, action, codec, position, nowS);
    }
    return indices[position]!;
  }

  private bindGroupCookie(
    cookies: ExchangeCookies,
    action: CompiledAction,
    codec: StickyCodec,
    position: number,
    nowS: number,
  ): void {
    const expiryS = nowS + action.stickyDurationS;
    const value = codec.encode(
      STICKY_KIND_GROUP,
      action.cookieName,
      action.groupNameHashes[position]!,
      0,
      expiryS,
      '',
    );
    cookies.bindGroup(action.cookieName, action.corsCookieName, value, expiryS);
  }

  /**
   * A retry's pick (issue 10): Router.pick again, up to
   * RETRY_PICK_ATTEMPTS_MAX times, to land on a slot other than `failedSlot`
   * (Envoy's previous_hosts predicate); then it takes what it got. For
   * requests only (stickiness and hash keys as the first pick had them).
   */
  pickAnother(
    out: PickOutcome,
    groupIndex: number,
    req: RequestHead,
    clientAddress: string,
    nowMs: number,
    failedSlot: number,
  ): number {
    let slot = NO_SLOT;
    for (let i = 0; i < RETRY_PICK_ATTEMPTS_MAX; i++) {
      slot = this.pick(out, groupIndex, req, clientAddress, nowMs);
      if (slot !== failedSlot) break;
    }
    return slot;
  }

  /**
   * The pick phase, the one entry point for every protocol: the hash key
   * (hash groups), then target stickiness wrapped around the group's
   * balancer (TargetGroups.balance): the slot a valid cookie names if it
   * may still take traffic, else the balancer's. `req` is null for a
   * layer-4 flow (TCP, TLS, UDP): no cookies, and `flow` (when given) is
   * what a hash group hashes (source_ip, source_ip_dest_ip or five_tuple;
   * without it, `clientAddress`). Writes slot, target,
   * serving group, PICK_* and the cookies to set into `out`; returns the
   * slot or NO_SLOT. Synchronous; allocates only to read the cookie and, on
   * a cache miss, to verify it.
   */
  pick(
    out: PickOutcome,
    groupIndex: number,
    req: RequestHead | null,
    clientAddress: string,
    nowMs: number,
    flow: FlowTuple | null = null,
  ): number {
    const groups = this.groups;
    const view = this.view;
    const group = groups.group(groupIndex);
    const keyHash =
      group === undefined || group.algorithm !== 'hash'
        ? 0
        : req === null && flow !== null
          ? flowKeyHash(group.hashKey.kind, flow)
          : requestKeyHash(group.hashKey, req, clientAddress);
    const codec = this.codec;
    const routeTo = loadGroup(view, groupIndex, GROUP_ROUTE_TO);
    const sticky = this.stickyGroups[routeTo] ?? null;
    out.stickyOutcome = STICKY_NONE;
    if (sticky === null || codec === null || req === null)
      return groups.balance(out, groupIndex, keyHash, nowMs);

    const cookies = out.cookies;
    const nowS = unixS();
    const isApp = sticky.kind === STICKY_KIND_APP;
    const session = isApp ? requestCookie(req, sticky.appCookieName) : '';
    let counter = GROUP_STICKY_MISSES_TOTAL;
    const value = requestCookie(req, sticky.cookieName) || requestCookie(req, sticky.corsCookieName);
    if (
      value !== '' &&
      (!isApp || session !== '') &&
      codec.verify(sticky.kind, sticky.cookieName, value, session, nowS)
    ) {
      const slot = codec.id;
      const generation = codec.generation;
      if (
        slot >= 0 &&
        slot < view.targetCapacity &&
        loadTarget(view, slot, TARGET_GENERATION) === generation &&
        loadTarget(view, slot, TARGET_GROUP_INDEX) === routeTo &&
        isTargetRoutable(view, slot) &&
        groups.targetAt(slot) !== undefined
      ) {
        addGroup(view, routeTo, GROUP_STICKY_HITS_TOTAL, 1);
        out.group = groups.group(routeTo) ?? null;
        groups.picked(out, slot, PICK_STICKY);
        out.stickyOutcome = STICKY_HIT;
        cookies.bindTarget(sticky, slot, generation, session);
        return slot;
      }
      counter = GROUP_STICKY_REPICKS_TOTAL;
    }
    const slot = groups.balance(out, groupIndex, keyHash, nowMs);
    addGroup(view, routeTo, counter, 1);
    out.stickyOutcome = counter === GROUP_STICKY_REPICKS_TOTAL ? STICKY_REPICK : STICKY_MISS;
    if (slot === NO_SLOT) return NO_SLOT;
    const generation = loadTarget(view, slot, TARGET_GENERATION);
    if (!isApp || counter === GROUP_STICKY_REPICKS_TOTAL)
      cookies.bindTarget(sticky, slot, generation, session);
    else cookies.awaitAppCookie(sticky, slot, generation);
    return slot;
  }

  /** Set-Cookie lines for a proxied HTTP/1.1 response ('' when the exchange is not sticky), with the listener's attributes. */
  responseCookieLines(cookies: ExchangeCookies, res: ResponseHead, attributes: CookieAttributes): string {
    return stickyResponseLines(this.codec, cookies, res, unixS(), attributes);
  }

  /** The same cookies as Set-Cookie values for an HTTP/2 response, pushed onto `out`. */
  pushResponseCookies(
    out: string[],
    cookies: ExchangeCookies,
    res: ResponseHead,
    attributes: CookieAttributes,
  ): void {
    pushStickyResponseCookies(out, this.codec, cookies, res, unixS(), attributes);
  }
}
