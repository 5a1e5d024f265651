/**
 * @module workers/balance/zone-aware
 *
 * Zones as a wrapper around any algorithm (STYLE §6, Pingora `Weighted<…>`):
 * `crossZone: disabled` (ELB) and `zoneAware` spill-over (Envoy locality
 * routing) decide *which zone* a pick serves; the group's own algorithm,
 * unchanged, decides *which target* within it. Thread: worker (main in tests
 * and benches). Place in the flow: route -> **pick** -> upstream, inside
 * TargetGroups.balance, so stickiness, failover and fail-open wrap it exactly
 * as they wrap a plain balancer.
 *
 * Algorithm. The wrapper holds three balancers of the group's algorithm:
 * `local` (members in Ferry's own zone), `remote` (every other member) and
 * `all`. On each pick:
 *
 *   fail-open (ELIGIBLE_ANY) ............................ all
 *   no local member, or fewer members than minTargets .... all
 *   local_only (crossZone: disabled)  local; if it finds nothing routable:
 *                                     remote, counted in GROUP_CROSS_ZONE_TOTAL
 *   spill (zoneAware)    localPermille = min(1000, routable/local x overprovisioning%)
 *                        draw r in [0, 1000): r < localPermille -> local, else remote
 *                        (counted in GROUP_ZONE_SPILL_TOTAL); either side falls
 *                        back to the other when it finds nothing routable
 *
 * With 2 local targets of which 1 is routable and factor 1.4, the local zone
 * keeps 50 % x 1.4 = 70 % and the remote balancer spreads the other 30 % over
 * the other zones in proportion to their routable members (the algorithm's
 * own spread over `remote`). The share is computed from the shared table on
 * every pick (TARGET_STATE, TARGET_EJECTED, TARGET_WEIGHT of the local
 * members), so every worker agrees on it the moment main stores a health
 * change, with no message and no rebuild.
 *
 * Cost: the inner pick, plus for spill one state load and one routable check
 * (four Atomics.load) per local member and one integer draw. Measured with a
 * throwaway loop (.scratch/zone-bench.ts, not kept: 6 targets, 2 local,
 * round_robin, 1M picks, Node 24 on the 2-core dev box while it was loaded,
 * so take the difference, not the totals): plain 76-142 ns/pick, wrapped
 * 174-226 ns/pick, i.e. ~80-100 ns added, ~40-50 ns per local member. With
 * hundreds of local members prefer local_only (no scan unless the local
 * zone is empty) or fewer, larger zones. Allocates nothing (the unit test
 * measures it); bounded by the local member count plus the inner picks.
 *
 * Table fields read: TARGET_STATE, TARGET_EJECTED, TARGET_WEIGHT (local
 * members); written: GROUP_CROSS_ZONE_TOTAL, GROUP_ZONE_SPILL_TOTAL.
 *
 * Alternatives rejected: Envoy's full locality algorithm, which also weighs
 * the *downstream* distribution of sidecars per zone (it needs every peer's
 * zone, which a sidecar does not know); a share computed by main and stored
 * in the group row (one more writer to keep in step with every health
 * change, for a saving of a few loads); a zone field per target row in the
 * table (zones change only with config, so the topology carries them).
 */
import {
  addGroup,
  GROUP_CROSS_ZONE_TOTAL,
  GROUP_ZONE_SPILL_TOTAL,
  isTargetRoutable,
  loadTarget,
  NO_SLOT,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  type TableView,
} from '../../proto/table-layout.ts';
import type { TopologyZones } from '../../proto/thread-messages.ts';
import { drawIndex, seedRandomState } from './member-scan.ts';
import {
  type AlgorithmName,
  type Balancer,
  ELIGIBLE_ANY,
  type PrebuiltLookup,
  type RandomSource,
} from './types.ts';

/** Shares are in per-mille: integers on the hot path. */
const PERMILLE_FULL = 1000;
const ZONE_MODE_LOCAL_ONLY = 0;
const ZONE_MODE_SPILL = 1;

export class ZoneAwareBalancer implements Balancer {
  readonly algorithm: AlgorithmName;
  private readonly groupIndex: number;
  private readonly local: Balancer;
  private readonly remote: Balancer;
  private readonly all: Balancer;
  private readonly localIds: ReadonlySet<string>;
  private readonly mode: number;
  private readonly overprovisioningPercent: number;
  private readonly minTargets: number;
  private readonly randomState: Int32Array;
  private localSlots: Int32Array;
  private memberCount: number;

  /**
   * `create` makes one balancer of the group's algorithm (called three
   * times); `localIds` are the member ids (host:port) in Ferry's own zone.
   * Config time; allocates.
   */
  constructor(
    create: () => Balancer,
    groupIndex: number,
    random: RandomSource,
    zones: TopologyZones,
    localIds: ReadonlySet<string>,
  ) {
    this.local = create();
    this.remote = create();
    this.all = create();
    this.algorithm = this.all.algorithm;
    this.groupIndex = groupIndex;
    this.localIds = localIds;
    this.mode = zones.mode === 'local_only' ? ZONE_MODE_LOCAL_ONLY : ZONE_MODE_SPILL;
    this.overprovisioningPercent = zones.overprovisioningPercent;
    this.minTargets = zones.minTargets;
    this.randomState = seedRandomState(random);
    this.localSlots = new Int32Array(0);
    this.memberCount = 0;
  }

  /** Split the members by zone and rebuild the three inner balancers. Config time; allocates. */
  rebuild(
    view: TableView,
    memberSlots: Int32Array,
    memberIds: readonly string[],
    prebuilt?: PrebuiltLookup | null,
  ): void {
    const localSlots: number[] = [];
    const localIds: string[] = [];
    const remoteSlots: number[] = [];
    const remoteIds: string[] = [];
    for (let i = 0; i < memberSlots.length; i++) {
      const id = memberIds[i]!;
      if (this.localIds.has(id)) {
        localSlots.push(memberSlots[i]!);
        localIds.push(id);
      } else {
        remoteSlots.push(memberSlots[i]!);
        remoteIds.push(id);
      }
    }
    this.localSlots = Int32Array.from(localSlots);
    this.memberCount = memberSlots.length;
    // A prebuilt lookup (hash) is built for all members; the zone subsets build their own.
    this.all.rebuild(view, memberSlots, memberIds, prebuilt ?? null);
    this.local.rebuild(view, this.localSlots, localIds, null);
    this.remote.rebuild(view, Int32Array.from(remoteSlots), remoteIds, null);
  }

  pick(view: TableView, keyHash: number, nowMs: number, eligibility: number): number {
    if (eligibility === ELIGIBLE_ANY || this.localSlots.length === 0) {
      return this.all.pick(view, keyHash, nowMs, eligibility);
    }
    if (this.mode === ZONE_MODE_LOCAL_ONLY) {
      const slot = this.local.pick(view, keyHash, nowMs, eligibility);
      if (slot !== NO_SLOT) return slot;
      return this.counted(view, this.remote.pick(view, keyHash, nowMs, eligibility), GROUP_CROSS_ZONE_TOTAL);
    }
    if (this.memberCount < this.minTargets) return this.all.pick(view, keyHash, nowMs, eligibility);
    const localPermille = this.localPermille(view);
    if (localPermille >= PERMILLE_FULL || drawIndex(this.randomState, PERMILLE_FULL) < localPermille) {
      const slot = this.local.pick(view, keyHash, nowMs, eligibility);
      if (slot !== NO_SLOT) return slot;
      return this.counted(view, this.remote.pick(view, keyHash, nowMs, eligibility), GROUP_ZONE_SPILL_TOTAL);
    }
    const slot = this.remote.pick(view, keyHash, nowMs, eligibility);
    if (slot !== NO_SLOT) return this.counted(view, slot, GROUP_ZONE_SPILL_TOTAL);
    return this.local.pick(view, keyHash, nowMs, eligibility);
  }

  /**
   * The local zone's share in per-mille: routable local members over local
   * members not draining, times the overprovisioning factor, capped at 1000.
   * 0 when every local member is draining.
   */
  private localPermille(view: TableView): number {
    const slots = this.localSlots;
    let present = 0;
    let routable = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      const state = loadTarget(view, slot, TARGET_STATE);
      if (state === TARGET_STATE_DRAINING || state === TARGET_STATE_EMPTY) continue;
      present++;
      if (isTargetRoutable(view, slot)) routable++;
    }
    if (present === 0) return 0;
    const permille = ((routable * this.overprovisioningPercent * 10) / present) | 0;
    return Math.min(permille, PERMILLE_FULL);
  }

  /** Count a pick that left the local zone (when it found a slot). */
  private counted(view: TableView, slot: number, field: number): number {
    if (slot !== NO_SLOT) addGroup(view, this.groupIndex, field, 1);
    return slot;
  }
}
