/**
 * @module src/config/rules
 *
 * The config rules that look across fields and entries: unique names and
 * addresses, references between listeners and target groups, options that
 * only make sense together, and table capacity. Thread: main (config time).
 * Place in the flow: YAML -> schema.ts (each field) + **rules.ts** (across
 * fields) -> ConfigSnapshot.
 *
 * Why these run on the raw YAML data and not inside the zod schema: zod skips
 * an object's refinements as soon as any field inside it fails, so a typo in
 * one target would hide a duplicate group name until the next run. Running
 * here, on whatever parts are well-formed, lets `ferry validate` report every
 * problem at once. Each rule skips values the schema already rejects (wrong
 * type, bad address), so nothing is reported twice. The walking helpers
 * every rule file shares (shape tests, the reporter, target-group references,
 * address overlap) live in rule-helpers.ts.
 */
import { ALGORITHMS } from '../../proto/algorithms.ts';
import { DEFAULT_MAX_TARGET_GROUPS, DEFAULT_MAX_TARGETS } from '../shared/limits.ts';
import { type HostPort, parseAddress } from './address.ts';
import type { ConfigError } from './config-error.ts';
import { FLOW_HASH_KEY_KINDS, parseHashKey } from './hash-key.ts';
import { checkRoutingRules, routedTargetGroups } from './routing-rules.ts';
import {
  invalidReporter,
  isObject,
  isOverlapping,
  objectsIn,
  type RawObject,
  type Report,
  stringAt,
  targetGroupNames,
  unknownTargetGroupMessage,
} from './rule-helpers.ts';
import {
  ADMIN_ADDRESS_DEFAULT,
  LAYER4_PROTOCOLS,
  LIMITS_MAX_TARGET_GROUPS_CAP,
  LIMITS_MAX_TARGETS_CAP,
} from './schema.ts';

function integerAt(object: RawObject | undefined, key: string, min: number, max: number): number | undefined {
  const value = object?.[key];
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
    ? value
    : undefined;
}

/**
 * Check the rules that span fields. Thread: main. Never throws; allocates the
 * error list. `raw` is the YAML document as plain JS (any shape).
 */
export function checkConfigRules(raw: unknown): ConfigError[] {
  const errors: ConfigError[] = [];
  if (!isObject(raw)) return errors;
  const report = invalidReporter(errors);

  const listeners = objectsIn(raw['listeners']);
  const groups = objectsIn(raw['targetGroups']);

  checkUniqueNames(listeners, 'listeners', 'listener', report);
  checkUniqueNames(groups, 'targetGroups', 'target group', report);
  checkListenerAddresses(raw, listeners, report);

  // Which listener protocols reach each group, for the protocol-dependent rules below.
  const groupNames = targetGroupNames(raw, groups);
  const listenersByGroup = new Map<string, { name: string; protocol: string }[]>();
  for (const { index, entry } of listeners) {
    const protocol = stringAt(entry, 'protocol') ?? 'HTTP';
    const isLayer4 = LAYER4_PROTOCOLS.includes(protocol);
    if (isLayer4 && entry['addTargetHeader'] === true) {
      report(
        ['listeners', index, 'addTargetHeader'],
        `applies only to HTTP listeners; this listener is ${protocol}`,
      );
    }
    if (!isLayer4) {
      if (entry['idleTimeout'] !== undefined)
        report(
          ['listeners', index, 'idleTimeout'],
          `applies only to TCP, TLS, UDP and TCP_UDP listeners; this listener is ${protocol}`,
        );
    } else if (
      (protocol === 'UDP' || protocol === 'TLS' || protocol === 'GENEVE') &&
      entry['proxyProtocol'] !== undefined
    ) {
      report(
        ['listeners', index, 'proxyProtocol'],
        protocol !== 'TLS'
          ? `applies to HTTP, HTTPS, TCP and TCP_UDP listeners (a UDP datagram carries no PROXY header); this listener is ${protocol}`
          : 'applies to HTTP, HTTPS, TCP and TCP_UDP listeners (a TLS listener relays what it decrypts, and Ferry reads PROXY headers before TLS; use an HTTPS listener, or SNI passthrough on a TCP listener); this listener is TLS',
      );
    }
    if (protocol !== 'TLS' && entry['alpnPolicy'] !== undefined) {
      report(
        ['listeners', index, 'alpnPolicy'],
        `applies only to TLS listeners; this listener is ${protocol}`,
      );
    }
    // Groups reached through rules and weighted forwards (their references are checked in routing-rules.ts).
    for (const routed of routedTargetGroups(entry)) {
      const users = listenersByGroup.get(routed) ?? [];
      users.push({ name: stringAt(entry, 'name') ?? `#${index}`, protocol });
      listenersByGroup.set(routed, users);
    }
    const action = entry['defaultAction'];
    const forward = isObject(action) ? action['forward'] : undefined;
    const groupName = isObject(forward) ? stringAt(forward, 'targetGroup') : undefined;
    if (groupName === undefined) continue;
    if (!groupNames.names.includes(groupName)) {
      const problem = unknownTargetGroupMessage(groupName, groupNames);
      if (problem !== undefined) {
        report(['listeners', index, 'defaultAction', 'forward', 'targetGroup'], problem);
      }
      continue;
    }
    const users = listenersByGroup.get(groupName) ?? [];
    users.push({ name: stringAt(entry, 'name') ?? `#${index}`, protocol });
    listenersByGroup.set(groupName, users);
  }

  for (const { index, entry } of groups) {
    const users = listenersByGroup.get(stringAt(entry, 'name') ?? '') ?? [];
    checkGroupOptions(index, entry, users, report);
    checkUniqueTargets(index, entry, report);
  }

  checkCapacity(raw, groups, errors);
  errors.push(...checkRoutingRules(raw));
  return errors;
}

function checkUniqueNames(
  entries: readonly { index: number; entry: RawObject }[],
  listKey: string,
  noun: string,
  report: Report,
): void {
  const firstIndexByName = new Map<string, number>();
  for (const { index, entry } of entries) {
    const name = stringAt(entry, 'name');
    if (name === undefined) continue;
    const firstIndex = firstIndexByName.get(name);
    if (firstIndex === undefined) firstIndexByName.set(name, index);
    else
      report(
        [listKey, index, 'name'],
        `duplicate ${noun} name ${JSON.stringify(name)} (also ${listKey}[${firstIndex}].name)`,
      );
  }
}

/**
 * Two listeners (or a listener and the admin endpoint) cannot bind the same
 * port on overlapping addresses: the same host, or either one the wildcard.
 * Port 0 asks the OS for a free port, so it never collides.
 */
function checkListenerAddresses(
  raw: RawObject,
  listeners: readonly { index: number; entry: RawObject }[],
  report: Report,
): void {
  const bound: { path: string; value: HostPort }[] = [];
  const admin = raw['admin'] ?? {};
  const adminAddress = isObject(admin) ? (admin['address'] ?? ADMIN_ADDRESS_DEFAULT) : undefined;
  const adminParsed = typeof adminAddress === 'string' ? parseAddress(adminAddress, 0) : undefined;
  if (adminParsed?.ok === true) bound.push({ path: 'admin.address', value: adminParsed.value });
  for (const { index, entry } of listeners) {
    const text = stringAt(entry, 'address');
    if (text === undefined) continue;
    const parsed = parseAddress(text, 0);
    if (!parsed.ok || parsed.value.port === 0) continue;
    const clash = bound.find(({ value }) => isOverlapping(value, parsed.value));
    if (clash !== undefined) {
      report(
        ['listeners', index, 'address'],
        `${text} overlaps ${clash.path} (${clash.value.address}): both bind port ${parsed.value.port}`,
      );
    }
    bound.push({ path: `listeners[${index}].address`, value: parsed.value });
  }
}

/** Options of one group that depend on its algorithm or on the listeners that forward to it. */
function checkGroupOptions(
  index: number,
  group: RawObject,
  users: readonly { name: string; protocol: string }[],
  report: Report,
): void {
  const algorithm = stringAt(group, 'algorithm') ?? 'round_robin';
  const hash = group['hash'];
  const isKnownAlgorithm = (ALGORITHMS as readonly string[]).includes(algorithm);
  if (hash !== undefined && isKnownAlgorithm && algorithm !== 'hash') {
    report(
      ['targetGroups', index, 'hash'],
      `applies only when algorithm is hash (this group uses ${algorithm})`,
    );
  }
  const tcpUser = users.find((user) => LAYER4_PROTOCOLS.includes(user.protocol));
  const httpUser = users.find((user) => !LAYER4_PROTOCOLS.includes(user.protocol));
  const keyText = isObject(hash) ? stringAt(hash, 'key') : undefined;
  const key = keyText === undefined ? undefined : parseHashKey(keyText);
  const isFlowKey = key?.ok === true && FLOW_HASH_KEY_KINDS.includes(key.value.kind);
  if (tcpUser !== undefined && key?.ok === true && key.value.kind !== 'source_ip' && !isFlowKey) {
    report(
      ['targetGroups', index, 'hash', 'key'],
      `${keyText} needs HTTP requests, but ${tcpUser.protocol} listener ${JSON.stringify(tcpUser.name)} forwards to this group; use source_ip, source_ip_dest_ip or five_tuple`,
    );
  }
  if (httpUser !== undefined && isFlowKey) {
    report(
      ['targetGroups', index, 'hash', 'key'],
      `${keyText} hashes layer-4 flows, but ${httpUser.protocol} listener ${JSON.stringify(httpUser.name)} forwards to this group; use source_ip or a request key`,
    );
  }
  checkGenevePairing(index, group, users, algorithm, report);
  if (group['proxyProtocol'] === 'v2' && httpUser !== undefined) {
    report(
      ['targetGroups', index, 'proxyProtocol'],
      `applies only to groups that layer-4 listeners forward to, but ${httpUser.protocol} listener ${JSON.stringify(httpUser.name)} forwards to this group`,
    );
  }

  const check = group['healthCheck'];
  if (!isObject(check)) return;
  const explicitProtocol = stringAt(check, 'protocol');
  const isTcpOnly = users.length > 0 && users.every((user) => LAYER4_PROTOCOLS.includes(user.protocol));
  const protocol = explicitProtocol ?? (isTcpOnly ? 'TCP' : 'HTTP');
  if (protocol !== 'TCP') return;
  const why =
    explicitProtocol === undefined
      ? 'the health check is TCP (the default when only layer-4 listeners forward to the group); set healthCheck.protocol: HTTP'
      : 'the health check protocol is TCP';
  for (const key of ['path', 'matcher'] as const) {
    if (check[key] !== undefined)
      report(['targetGroups', index, 'healthCheck', key], `applies only to HTTP and HTTPS checks; ${why}`);
  }
}

/** GENEVE listeners forward to GENEVE (appliance) groups only, and only those take the GWLB keys. */
function checkGenevePairing(
  index: number,
  group: RawObject,
  users: readonly { name: string; protocol: string }[],
  algorithm: string,
  report: Report,
): void {
  const isGenevegroup = stringAt(group, 'protocol') === 'GENEVE';
  if (!isGenevegroup) {
    for (const key of ['flowStickiness', 'targetFailover'] as const) {
      if (group[key] !== undefined)
        report(
          ['targetGroups', index, key],
          'applies only to GENEVE groups (appliances behind a GENEVE listener)',
        );
    }
    const geneveUser = users.find((user) => user.protocol === 'GENEVE');
    if (geneveUser !== undefined)
      report(
        ['targetGroups', index, 'protocol'],
        `GENEVE listener ${JSON.stringify(geneveUser.name)} forwards to this group: set protocol: GENEVE`,
      );
    return;
  }
  if (group['algorithm'] !== undefined && algorithm !== 'hash')
    report(
      ['targetGroups', index, 'algorithm'],
      `a GENEVE group picks appliances by a symmetric flow hash (GWLB); leave algorithm out or set hash, got ${algorithm}`,
    );
  const other = users.find((user) => user.protocol !== 'GENEVE');
  if (other !== undefined)
    report(
      ['targetGroups', index, 'protocol'],
      `GENEVE groups take GENEVE listeners only, but ${other.protocol} listener ${JSON.stringify(other.name)} forwards to this group`,
    );
}

/** A target may appear once per group (the same host and port twice would double its share silently). */
function checkUniqueTargets(groupIndex: number, group: RawObject, report: Report): void {
  const firstIndexByAddress = new Map<string, number>();
  for (const { index, entry } of objectsIn(group['targets'])) {
    const text = stringAt(entry, 'address');
    if (text === undefined) continue;
    const parsed = parseAddress(text, 1);
    if (!parsed.ok) continue;
    const identity = `${parsed.value.host.toLowerCase()} ${parsed.value.port}`;
    const firstIndex = firstIndexByAddress.get(identity);
    if (firstIndex === undefined) firstIndexByAddress.set(identity, index);
    else
      report(
        ['targetGroups', groupIndex, 'targets', index, 'address'],
        `duplicate target ${text} in this group (also targets[${firstIndex}])`,
      );
  }
}

/** The shared table has fixed capacity (`limits`); a config that does not fit is refused before anything starts. */
function checkCapacity(
  raw: RawObject,
  groups: readonly { index: number; entry: RawObject }[],
  errors: ConfigError[],
): void {
  const limits = isObject(raw['limits']) ? raw['limits'] : undefined;
  const maxTargets = integerAt(limits, 'maxTargets', 1, LIMITS_MAX_TARGETS_CAP) ?? DEFAULT_MAX_TARGETS;
  const maxTargetGroups =
    integerAt(limits, 'maxTargetGroups', 1, LIMITS_MAX_TARGET_GROUPS_CAP) ?? DEFAULT_MAX_TARGET_GROUPS;
  const groupCount = Array.isArray(raw['targetGroups']) ? raw['targetGroups'].length : 0;
  if (groupCount > maxTargetGroups) {
    errors.push({
      code: 'FERRY_ERR_CONFIG_CAPACITY',
      path: 'targetGroups',
      message: `${groupCount} target groups do not fit limits.maxTargetGroups (${maxTargetGroups}); raise limits.maxTargetGroups`,
    });
  }
  let targetCount = 0;
  for (const { entry } of groups) {
    const targets = entry['targets'];
    if (Array.isArray(targets)) targetCount += targets.length;
  }
  if (targetCount > maxTargets) {
    errors.push({
      code: 'FERRY_ERR_CONFIG_CAPACITY',
      path: 'targetGroups',
      message: `${targetCount} targets in all do not fit limits.maxTargets (${maxTargets}); raise limits.maxTargets`,
    });
  }
}
