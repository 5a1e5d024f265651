/**
 * @module src/config/control-rules
 *
 * The config rules of the control port and failover that look across
 * entries: a standby must be another defined target group that has no
 * standby itself (workers follow the failover pointer one hop), and the
 * control port may not share a port with the admin endpoint or a listener.
 * Thread: main (config time). Place in the flow: YAML -> schema.ts +
 * rules.ts + **control-rules.ts** -> ConfigSnapshot.
 *
 * Like rules.ts, it runs on the raw YAML data so its errors come together
 * with field errors, and it skips values the schema already rejects.
 */
import { type HostPort, parseAddress } from './address.ts';
import { type ConfigError, type ConfigPath, closestName } from './config-error.ts';
import { parseControlAddress } from './control-address.ts';
import {
  invalidReporter,
  isObject,
  isOverlapping,
  objectsIn,
  type RawObject,
  type Report,
  stringAt,
} from './rule-helpers.ts';

/** Check the control and failover rules. Thread: main. Never throws; `raw` is the YAML document as plain JS. */
export function checkControlRules(raw: unknown): ConfigError[] {
  const errors: ConfigError[] = [];
  if (!isObject(raw)) return errors;
  const report = invalidReporter(errors);
  checkStandbys(raw, report);
  checkControlAddress(raw, report);
  return errors;
}

function checkStandbys(raw: RawObject, report: Report): void {
  const groups = objectsIn(raw['targetGroups']);
  const names = groups.flatMap(({ entry }) => stringAt(entry, 'name') ?? []);
  const hasStandby = new Set(
    groups.flatMap(({ entry }) => (isObject(entry['failover']) ? (stringAt(entry, 'name') ?? []) : [])),
  );
  for (const { index, entry } of groups) {
    const failover = entry['failover'];
    if (!isObject(failover) || typeof failover['standby'] !== 'string') continue;
    const standby = failover['standby'];
    const path: ConfigPath = ['targetGroups', index, 'failover', 'standby'];
    if (standby === entry['name']) {
      report(path, 'a target group cannot be its own standby');
    } else if (!names.includes(standby)) {
      const suggestion = closestName(standby, names);
      report(
        path,
        `no target group named ${JSON.stringify(standby)}` +
          (suggestion === undefined
            ? ` (known: ${names.join(', ')})`
            : ` (did you mean ${JSON.stringify(suggestion)}?)`),
      );
    } else if (hasStandby.has(standby)) {
      report(
        path,
        `${standby} has a failover standby of its own; chains are not supported (workers follow the failover pointer one hop)`,
      );
    }
  }
}

/** The control port may not bind a port the admin endpoint or a listener binds on an overlapping host. */
function checkControlAddress(raw: RawObject, report: Report): void {
  const control = raw['control'];
  if (!isObject(control) || typeof control['address'] !== 'string') return;
  const parsed = parseControlAddress(control['address']);
  if (!parsed.ok || parsed.value.kind !== 'tcp' || parsed.value.port === 0) return;
  const mine: HostPort = parsed.value;
  const others: { path: string; text: unknown }[] = [];
  const admin = raw['admin'];
  if (isObject(admin)) others.push({ path: 'admin.address', text: admin['address'] });
  for (const { index, entry } of objectsIn(raw['listeners'])) {
    others.push({ path: `listeners[${index}].address`, text: entry['address'] });
  }
  for (const other of others) {
    if (typeof other.text !== 'string') continue;
    const theirs = parseAddress(other.text, 0);
    if (!theirs.ok || !isOverlapping(mine, theirs.value)) continue;
    report(
      ['control', 'address'],
      `${mine.address} overlaps ${other.path} (${other.text}): both bind port ${mine.port}`,
    );
    return;
  }
}
