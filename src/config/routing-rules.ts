/**
 * @module src/config/routing-rules
 *
 * The routing rules that look across fields and entries: every target group
 * a rule or weighted forward names exists, rule priorities are unique within
 * a listener, rules and non-forward actions only on HTTP(S) listeners,
 * `internalSources` only with `scheme: internal`, and stickiness only on
 * groups that HTTP listeners reach. Thread: main (config time). Place in the
 * flow: YAML -> schema.ts + rules.ts (which calls **checkRoutingRules**) ->
 * ConfigSnapshot.
 *
 * Like rules.ts it reads the raw YAML data (with rule-helpers.ts), so these
 * errors are reported together with field errors; each check skips values
 * the schema rejects, and a group reference is judged as in rules.ts.
 * The single-group `defaultAction.forward.targetGroup` reference is rules.ts's
 * to check (it predates rules); everything else that names a group is here.
 */
import type { ConfigError, ConfigPath } from './config-error.ts';
import {
  invalidReporter,
  isObject,
  objectsIn,
  type RawObject,
  stringAt,
  targetGroupNames,
  unknownTargetGroupMessage,
} from './rule-helpers.ts';

/** Listener protocols that carry HTTP requests, so rules, redirects and cookies apply. */
const HTTP_PROTOCOLS: readonly string[] = ['HTTP', 'HTTPS'];

/** A group name an action refers to, with the path of the reference (relative to the action). */
interface GroupReference {
  readonly name: string;
  readonly path: ConfigPath;
}

/**
 * Target groups a raw action forwards to: `forward.targetGroup` (only when
 * `isSingleIncluded`) and every `forward.targetGroups[].name`.
 */
function actionGroupReferences(action: unknown, isSingleIncluded: boolean): GroupReference[] {
  if (!isObject(action)) return [];
  const forward = action['forward'];
  if (!isObject(forward)) return [];
  const references: GroupReference[] = [];
  const single = stringAt(forward, 'targetGroup');
  if (single !== undefined && isSingleIncluded)
    references.push({ name: single, path: ['forward', 'targetGroup'] });
  for (const { index, entry } of objectsIn(forward['targetGroups'])) {
    const name = stringAt(entry, 'name');
    if (name !== undefined) references.push({ name, path: ['forward', 'targetGroups', index, 'name'] });
  }
  return references;
}

/**
 * Target groups a raw listener's rules and weighted default action forward
 * to (not the single `defaultAction.forward.targetGroup`), for rules.ts to
 * count them as used by the listener. Thread: main. Never throws.
 */
export function routedTargetGroups(listener: RawObject): string[] {
  const names = actionGroupReferences(listener['defaultAction'], false).map((reference) => reference.name);
  for (const { entry } of objectsIn(listener['rules'])) {
    for (const reference of actionGroupReferences(entry['action'], true)) names.push(reference.name);
  }
  return names;
}

/**
 * Check the routing rules that span fields. Thread: main. Never throws;
 * allocates the error list. `raw` is the YAML document as plain JS.
 */
export function checkRoutingRules(raw: unknown): ConfigError[] {
  const errors: ConfigError[] = [];
  if (!isObject(raw)) return errors;
  const report = invalidReporter(errors);
  const listeners = objectsIn(raw['listeners']);
  const groups = objectsIn(raw['targetGroups']);
  const groupNames = targetGroupNames(raw, groups);
  const checkReference = (base: ConfigPath, reference: GroupReference): void => {
    const problem = unknownTargetGroupMessage(reference.name, groupNames);
    if (problem !== undefined) report([...base, ...reference.path], problem);
  };

  /** Listeners (name, protocol) that reach each group, for the stickiness check. */
  const usersByGroup = new Map<string, { name: string; protocol: string }[]>();
  const addUser = (groupName: string, user: { name: string; protocol: string }): void => {
    const users = usersByGroup.get(groupName) ?? [];
    users.push(user);
    usersByGroup.set(groupName, users);
  };

  for (const { index, entry } of listeners) {
    const protocol = stringAt(entry, 'protocol') ?? 'HTTP';
    const user = { name: stringAt(entry, 'name') ?? `#${index}`, protocol };
    const isHttp = HTTP_PROTOCOLS.includes(protocol);
    const base: ConfigPath = ['listeners', index];
    const defaultAction = entry['defaultAction'];

    for (const reference of actionGroupReferences(defaultAction, false)) {
      checkReference([...base, 'defaultAction'], reference);
    }
    for (const reference of actionGroupReferences(defaultAction, true)) addUser(reference.name, user);

    const rules = objectsIn(entry['rules']);
    if (!isHttp && protocol !== 'TCP' && Array.isArray(entry['rules']) && entry['rules'].length > 0) {
      report(
        [...base, 'rules'],
        `rules apply only to HTTP, HTTPS and TCP (sni, sourceIp) listeners; this listener is ${protocol}`,
      );
    }
    for (const { index: ruleIndex, entry: rule } of rules) {
      const conditions = rule['conditions'];
      if (!isObject(conditions)) continue;
      if (isHttp && conditions['sni'] !== undefined) {
        report(
          [...base, 'rules', ruleIndex, 'conditions', 'sni'],
          `applies only to TCP listeners (TLS passthrough); this ${protocol} listener routes on hostHeader`,
        );
      }
      if (protocol !== 'TCP') continue;
      for (const key of Object.keys(conditions)) {
        if (key !== 'sni' && key !== 'sourceIp')
          report(
            [...base, 'rules', ruleIndex, 'conditions', key],
            'a TCP listener sees no HTTP request: its rules match only sni and sourceIp',
          );
      }
      const action = rule['action'];
      if (isObject(action)) {
        for (const kind of ['redirect', 'fixedResponse'] as const) {
          if (action[kind] !== undefined)
            report(
              [...base, 'rules', ruleIndex, 'action', kind],
              'a TCP listener forwards connections: use forward with one targetGroup',
            );
        }
        const forward = action['forward'];
        if (isObject(forward) && forward['targetGroups'] !== undefined)
          report(
            [...base, 'rules', ruleIndex, 'action', 'forward', 'targetGroups'],
            'a TCP listener forwards to one target group: use targetGroup',
          );
      }
    }
    if (!isHttp && isObject(defaultAction)) {
      for (const kind of ['redirect', 'fixedResponse'] as const) {
        if (defaultAction[kind] !== undefined) {
          report(
            [...base, 'defaultAction', kind],
            `applies only to HTTP and HTTPS listeners; a ${protocol} listener forwards to one target group`,
          );
        }
      }
      const forward = defaultAction['forward'];
      if (isObject(forward) && forward['targetGroups'] !== undefined) {
        report(
          [...base, 'defaultAction', 'forward', 'targetGroups'],
          `a ${protocol} listener forwards to one target group: use targetGroup`,
        );
      }
    }

    const firstIndexByPriority = new Map<number, number>();
    for (const { index: ruleIndex, entry: rule } of rules) {
      const rulePath: ConfigPath = [...base, 'rules', ruleIndex];
      const priority = rule['priority'];
      if (typeof priority === 'number' && Number.isInteger(priority)) {
        const first = firstIndexByPriority.get(priority);
        if (first === undefined) firstIndexByPriority.set(priority, ruleIndex);
        else
          report(
            [...rulePath, 'priority'],
            `duplicate priority ${priority} in this listener (also rules[${first}]); priorities decide the order, so each must be unique`,
          );
      }
      for (const reference of actionGroupReferences(rule['action'], true)) {
        checkReference([...rulePath, 'action'], reference);
        addUser(reference.name, user);
      }
    }

    const internalSources = entry['internalSources'];
    const scheme = stringAt(entry, 'scheme') ?? 'internet-facing';
    if (Array.isArray(internalSources) && internalSources.length > 0 && scheme !== 'internal') {
      report(
        [...base, 'internalSources'],
        `applies only with scheme: internal (this listener is ${scheme}); use allowedSources to limit sources`,
      );
    }
  }

  for (const { index, entry } of groups) {
    const stickiness = entry['stickiness'];
    if (!isObject(stickiness) || stickiness['enabled'] !== true) continue;
    const users = usersByGroup.get(stringAt(entry, 'name') ?? '') ?? [];
    // A group HTTP listeners also reach keeps its stickiness for them; TCP connections ignore it.
    const tcpUser = users.find((user) => !HTTP_PROTOCOLS.includes(user.protocol));
    if (tcpUser !== undefined && users.every((user) => !HTTP_PROTOCOLS.includes(user.protocol))) {
      report(
        ['targetGroups', index, 'stickiness', 'enabled'],
        `stickiness needs HTTP requests (it works by cookies), but ${tcpUser.protocol} listener ${JSON.stringify(tcpUser.name)} forwards to this group`,
      );
    }
  }
  return errors;
}
