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

/** The reference's key rows as trimmed cells: key, type, default, allowed, description. */
function referenceRows(): string[][] {
  return renderConfigReference()
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

describe('renderConfigReference', () => {
  it('matches the committed docs/config-reference.md', async () => {
    const committed = await readFile(new URL(CONFIG_REFERENCE_PATH, REPO_ROOT), 'utf8');
    expect(
      committed,
      `${CONFIG_REFERENCE_PATH} is out of date with src/config/schema.ts; regenerate it with: ${CONFIG_REFERENCE_COMMAND}`,
    ).toBe(renderConfigReference());
  });

  it('has one row for every key, with the user-contract names', () => {
    const keys = referenceRows().map((cells) => cells[0]?.slice(1, -1));
    expect(keys).toEqual([
      'workers',
      'admin',
      'admin.address',
      'admin.probeAddress',
      'control',
      'control.address',
      'control.tokenFile',
      'limits',
      'limits.maxTargets',
      'limits.maxConnections',
      'limits.maxTargetGroups',
      'limits.maxUdpFlows',
      'demo',
      'listeners',
      'listeners[].name',
      'listeners[].protocol',
      'listeners[].address',
      'listeners[].scheme',
      'listeners[].addTargetHeader',
      'listeners[].rules',
      'listeners[].rules[].priority',
      'listeners[].rules[].conditions',
      'listeners[].rules[].conditions.hostHeader',
      'listeners[].rules[].conditions.pathPattern',
      'listeners[].rules[].conditions.httpHeader',
      'listeners[].rules[].conditions.httpRequestMethod',
      'listeners[].rules[].conditions.queryString',
      'listeners[].rules[].conditions.queryString[].key',
      'listeners[].rules[].conditions.queryString[].value',
      'listeners[].rules[].conditions.sourceIp',
      'listeners[].rules[].conditions.sni',
      'listeners[].rules[].action',
      'listeners[].rules[].action.forward',
      'listeners[].rules[].action.forward.targetGroup',
      'listeners[].rules[].action.forward.targetGroups',
      'listeners[].rules[].action.forward.targetGroups[].name',
      'listeners[].rules[].action.forward.targetGroups[].weight',
      'listeners[].rules[].action.forward.stickiness',
      'listeners[].rules[].action.forward.stickiness.enabled',
      'listeners[].rules[].action.forward.stickiness.duration',
      'listeners[].rules[].action.redirect',
      'listeners[].rules[].action.redirect.protocol',
      'listeners[].rules[].action.redirect.host',
      'listeners[].rules[].action.redirect.port',
      'listeners[].rules[].action.redirect.path',
      'listeners[].rules[].action.redirect.query',
      'listeners[].rules[].action.redirect.statusCode',
      'listeners[].rules[].action.fixedResponse',
      'listeners[].rules[].action.fixedResponse.statusCode',
      'listeners[].rules[].action.fixedResponse.contentType',
      'listeners[].rules[].action.fixedResponse.body',
      'listeners[].defaultAction',
      'listeners[].defaultAction.forward',
      'listeners[].defaultAction.forward.targetGroup',
      'listeners[].defaultAction.forward.targetGroups',
      'listeners[].defaultAction.forward.targetGroups[].name',
      'listeners[].defaultAction.forward.targetGroups[].weight',
      'listeners[].defaultAction.forward.stickiness',
      'listeners[].defaultAction.forward.stickiness.enabled',
      'listeners[].defaultAction.forward.stickiness.duration',
      'listeners[].defaultAction.redirect',
      'listeners[].defaultAction.redirect.protocol',
      'listeners[].defaultAction.redirect.host',
      'listeners[].defaultAction.redirect.port',
      'listeners[].defaultAction.redirect.path',
      'listeners[].defaultAction.redirect.query',
      'listeners[].defaultAction.redirect.statusCode',
      'listeners[].defaultAction.fixedResponse',
      'listeners[].defaultAction.fixedResponse.statusCode',
      'listeners[].defaultAction.fixedResponse.contentType',
      'listeners[].defaultAction.fixedResponse.body',
      'listeners[].allowedSources',
      'listeners[].internalSources',
      'listeners[].certificates',
      'listeners[].certificates[].cert',
      'listeners[].certificates[].key',
      'listeners[].sslPolicy',
      'listeners[].mutualAuthentication',
      'listeners[].mutualAuthentication.mode',
      'listeners[].mutualAuthentication.trustStore',
      'listeners[].mutualAuthentication.allowedIdentities',
      'listeners[].alpnPolicy',
      'listeners[].idleTimeout',
      'listeners[].proxyProtocol',
      'listeners[].proxyProtocol.accept',
      'listeners[].proxyProtocol.trustedSources',
      'listeners[].headersWithUnderscores',
      'listeners[].maxConnections',
      'listeners[].timeouts',
      'listeners[].timeouts.requestHeader',
      'listeners[].timeouts.requestBody',
      'listeners[].timeouts.requestBodyMinRate',
      'listeners[].timeouts.send',
      'listeners[].timeouts.tlsHandshake',
      'listeners[].timeouts.keepAlive',
      'listeners[].identity',
      'targetGroups',
      'targetGroups[].name',
      'targetGroups[].algorithm',
      'targetGroups[].hash',
      'targetGroups[].hash.key',
      'targetGroups[].targets',
      'targetGroups[].targets[].address',
      'targetGroups[].targets[].weight',
      'targetGroups[].targets[].zone',
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
      'targetGroups[].outlierDetection',
      'targetGroups[].outlierDetection.enabled',
      'targetGroups[].outlierDetection.consecutive5xx',
      'targetGroups[].outlierDetection.consecutiveGatewayFailure',
      'targetGroups[].outlierDetection.baseEjectionTime',
      'targetGroups[].outlierDetection.maxEjectionTime',
      'targetGroups[].outlierDetection.maxEjectionPercent',
      'targetGroups[].deregistrationDelay',
      'targetGroups[].slowStart',
      'targetGroups[].failOpen',
      'targetGroups[].timeouts',
      'targetGroups[].timeouts.connect',
      'targetGroups[].timeouts.response',
      'targetGroups[].retries',
      'targetGroups[].retries.attempts',
      'targetGroups[].retries.on',
      'targetGroups[].retries.budgetPercent',
      'targetGroups[].retries.minConcurrency',
      'targetGroups[].failover',
      'targetGroups[].failover.standby',
      'targetGroups[].failover.after',
      'targetGroups[].failover.autoFailback',
      'targetGroups[].protocol',
      'targetGroups[].tls',
      'targetGroups[].tls.ca',
      'targetGroups[].tls.serverName',
      'targetGroups[].tls.cert',
      'targetGroups[].tls.key',
      'targetGroups[].tls.identity',
      'targetGroups[].tls.expectedIdentities',
      'targetGroups[].tls.verify',
      'targetGroups[].stickiness',
      'targetGroups[].stickiness.enabled',
      'targetGroups[].stickiness.type',
      'targetGroups[].stickiness.duration',
      'targetGroups[].stickiness.cookieName',
      'targetGroups[].flowStickiness',
      'targetGroups[].targetFailover',
      'targetGroups[].targetFailover.onUnhealthy',
      'targetGroups[].targetFailover.onDeregistration',
      'targetGroups[].proxyProtocol',
      'targetGroups[].discovery',
      'targetGroups[].discovery.dns',
      'targetGroups[].discovery.dns.name',
      'targetGroups[].discovery.dns.type',
      'targetGroups[].discovery.dns.port',
      'targetGroups[].discovery.dns.refresh',
      'targetGroups[].discovery.dns.minRefresh',
      'targetGroups[].discovery.dns.maxRefresh',
      'targetGroups[].discovery.dns.servers',
      'targetGroups[].discovery.dns.zone',
      'targetGroups[].crossZone',
      'targetGroups[].zoneAware',
      'targetGroups[].zoneAware.enabled',
      'targetGroups[].zoneAware.overprovisioningFactor',
      'targetGroups[].zoneAware.minTargets',
      'zone',
      'shutdownGracePeriod',
      'drainDelay',
      'accessLog',
      'accessLog.enabled',
      'accessLog.destination',
      'accessLog.sampleRatio',
      'tracing',
      'tracing.enabled',
      'tracing.serviceName',
      'tracing.sampleRatio',
      'tracing.endpoint',
      'identity',
      'identity.spiffeId',
      'identity.issuer',
      'identity.issuer.address',
      'identity.issuer.tokenFile',
      'identity.issuer.trustBundle',
      'identity.files',
      'identity.files.cert',
      'identity.files.key',
      'identity.files.bundle',
      'identity.dir',
    ]);
  });

  it('gives every key a description', () => {
    const undescribed = referenceRows().filter((cells) => cells.length !== 5 || cells[4] === '');
    expect(undescribed).toEqual([]);
  });

  it('states durations with their range and default', () => {
    expect(
      referenceRows()
        .find((cells) => cells[0] === '`targetGroups[].slowStart`')
        ?.slice(0, 4),
    ).toEqual(['`targetGroups[].slowStart`', 'duration', '`0s`', '0 or 30s..15m']);
  });

  it('states a fixed response status code with the range validation enforces', () => {
    const allowed = referenceRows()
      .filter((cells) => cells[0]?.endsWith('fixedResponse.statusCode`'))
      .map((cells) => cells[3]);
    expect(allowed).toEqual(['200..299 or 400..599', '200..299 or 400..599']);
  });

  it('prints no integer range that only says "a safe integer"', () => {
    const unbounded = referenceRows().filter((cells) => cells[3]?.includes('9007199254740991'));
    expect(unbounded).toEqual([]);
  });
});
