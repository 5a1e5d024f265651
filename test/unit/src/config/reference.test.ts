/**
 * The generated config reference (src/config/reference.ts): the committed
 * docs/config-reference.md must be exactly what the schema renders now, so
 * the docs cannot drift from validation.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_REFERENCE_COMMAND,
  CONFIG_REFERENCE_PATH,
  renderConfigReference,
} from '../../../../src/config/reference.ts';

const REPO_ROOT = new URL('../../../../', import.meta.url);

describe('renderConfigReference', () => {
  it('matches the committed docs/config-reference.md', async () => {
    const committed = await readFile(new URL(CONFIG_REFERENCE_PATH, REPO_ROOT), 'utf8');
    expect(
      committed,
      `${CONFIG_REFERENCE_PATH} is out of date with src/config/schema.ts; regenerate it with: ${CONFIG_REFERENCE_COMMAND}`,
    ).toBe(renderConfigReference());
  });

  it('has one row for every key, with the user-contract names', () => {
    const keys = [...renderConfigReference().matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]);
    expect(keys).toEqual([
      'workers',
      'admin',
      'admin.address',
      'limits',
      'limits.maxTargets',
      'limits.maxTargetGroups',
      'demo',
      'listeners',
      'listeners[].name',
      'listeners[].protocol',
      'listeners[].address',
      'listeners[].scheme',
      'listeners[].addTargetHeader',
      'listeners[].defaultAction',
      'listeners[].defaultAction.forward',
      'listeners[].defaultAction.forward.targetGroup',
      'targetGroups',
      'targetGroups[].name',
      'targetGroups[].algorithm',
      'targetGroups[].hash',
      'targetGroups[].hash.key',
      'targetGroups[].targets',
      'targetGroups[].targets[].address',
      'targetGroups[].targets[].weight',
      'targetGroups[].healthCheck',
      'targetGroups[].healthCheck.enabled',
      'targetGroups[].healthCheck.protocol',
      'targetGroups[].healthCheck.port',
      'targetGroups[].healthCheck.path',
      'targetGroups[].healthCheck.interval',
      'targetGroups[].healthCheck.timeout',
      'targetGroups[].healthCheck.healthyThreshold',
      'targetGroups[].healthCheck.unhealthyThreshold',
      'targetGroups[].healthCheck.matcher',
      'targetGroups[].deregistrationDelay',
      'targetGroups[].slowStart',
      'targetGroups[].failOpen',
      'targetGroups[].timeouts',
      'targetGroups[].timeouts.connect',
      'targetGroups[].timeouts.response',
      'shutdownGracePeriod',
    ]);
  });

  it('gives every key a description', () => {
    const rows = renderConfigReference()
      .split('\n')
      .filter((line) => line.startsWith('| `'));
    const undescribed = rows.filter((row) => row.endsWith('|  |'));
    expect(undescribed).toEqual([]);
  });

  it('states durations with their range and default', () => {
    expect(renderConfigReference()).toContain(
      '| `targetGroups[].slowStart` | duration | `0s` | 0 or 30s..15m |',
    );
  });
});
