/**
 * @module src/control/config-diff
 *
 * What a reload changes, for its reply and its log line: target groups
 * added, removed or with changed attributes, and targets added, removed or
 * re-weighted. Thread: main. Pure function of two snapshots.
 */
import type { ReloadDiff } from '../../proto/control/messages.ts';
import type { ConfigSnapshot } from '../config/index.ts';

type Group = ConfigSnapshot['targetGroups'][number];

/** The differences between two snapshots' target groups. Allocates; never throws. */
export function diffTargetGroups(before: ConfigSnapshot, after: ConfigSnapshot): ReloadDiff {
  const beforeGroups = new Map(before.targetGroups.map((group) => [group.name, group]));
  const afterGroups = new Map(after.targetGroups.map((group) => [group.name, group]));
  const diff = {
    targetGroupsAdded: [] as string[],
    targetGroupsRemoved: [] as string[],
    targetGroupsChanged: [] as string[],
    targetsAdded: [] as { targetGroup: string; address: string }[],
    targetsRemoved: [] as { targetGroup: string; address: string }[],
    weightsChanged: [] as { targetGroup: string; address: string; from: number; to: number }[],
  };
  for (const [name, group] of afterGroups) {
    const old = beforeGroups.get(name);
    if (old === undefined) {
      diff.targetGroupsAdded.push(name);
      for (const target of group.targets)
        diff.targetsAdded.push({ targetGroup: name, address: target.address });
      continue;
    }
    if (attributesKey(old) !== attributesKey(group)) diff.targetGroupsChanged.push(name);
    const oldWeights = new Map(old.targets.map((target) => [target.address, target.weight]));
    for (const target of group.targets) {
      const from = oldWeights.get(target.address);
      if (from === undefined) diff.targetsAdded.push({ targetGroup: name, address: target.address });
      else if (from !== target.weight)
        diff.weightsChanged.push({ targetGroup: name, address: target.address, from, to: target.weight });
    }
    const newAddresses = new Set(group.targets.map((target) => target.address));
    for (const target of old.targets) {
      if (!newAddresses.has(target.address))
        diff.targetsRemoved.push({ targetGroup: name, address: target.address });
    }
  }
  for (const [name, group] of beforeGroups) {
    if (afterGroups.has(name)) continue;
    diff.targetGroupsRemoved.push(name);
    for (const target of group.targets)
      diff.targetsRemoved.push({ targetGroup: name, address: target.address });
  }
  return diff;
}

/** True when a diff changes nothing. */
export function isEmptyDiff(diff: ReloadDiff): boolean {
  return Object.values(diff).every((list: readonly unknown[]) => list.length === 0);
}

function attributesKey(group: Group): string {
  const { targets: _targets, ...attributes } = group;
  return JSON.stringify(attributes);
}
