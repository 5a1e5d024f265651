/** The embedded default config (src/config/default-config.ts): demo mode that works on a fresh clone. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_YAML, defaultConfig } from '../../../../src/config/default-config.ts';
import { parseConfig } from '../../../../src/config/parse.ts';
import { LISTENER_TIMEOUTS_DEFAULT } from '../../../../src/shared/limits.ts';

describe('DEFAULT_CONFIG_YAML', () => {
  it('is a valid config', () => {
    expect(parseConfig(DEFAULT_CONFIG_YAML, '<embedded default>')).toMatchObject({ ok: true });
  });
});

describe('defaultConfig', () => {
  it('runs the demo: one HTTP listener on 127.0.0.1:8080 over three demo targets, round robin', () => {
    const snapshot = defaultConfig();
    expect(snapshot.demo).toBe(true);
    expect(snapshot.listeners).toEqual([
      {
        name: 'web',
        protocol: 'HTTP',
        address: '127.0.0.1:8080',
        host: '127.0.0.1',
        port: 8080,
        scheme: 'internet-facing',
        addTargetHeader: true,
        rules: [],
        defaultAction: {
          type: 'forward',
          targetGroups: [{ name: 'demo', weight: 1 }],
          stickiness: { enabled: false, durationMs: 86_400_000 },
        },
        allowedSources: [],
        internalSources: [],
        forwardTargetGroups: ['demo'],
        certificates: [],
        sslPolicy: null,
        mutualAuthentication: { mode: 'off', trustStore: null, allowedIdentities: null },
        identity: false,
        alpnProtocols: [],
        tcpIdleTimeoutMs: 350_000,
        udpIdleTimeoutMs: 120_000,
        proxyProtocol: null,
        timeouts: LISTENER_TIMEOUTS_DEFAULT,
        headersWithUnderscores: 'drop',
        maxConnections: null,
      },
    ]);
    expect(snapshot.targetGroups.map((group) => [group.name, group.algorithm])).toEqual([
      ['demo', 'round_robin'],
    ]);
    expect(snapshot.targetGroups[0]?.targets.map((target) => target.address)).toEqual([
      '127.0.0.1:18081',
      '127.0.0.1:18082',
      '127.0.0.1:18083',
    ]);
  });

  it('uses two workers and the loopback admin endpoint, whatever the machine', () => {
    const snapshot = defaultConfig();
    expect(snapshot.workerCount).toBe(2);
    expect(snapshot.admin.address).toBe('127.0.0.1:9901');
  });

  it('labels itself and resolves relative paths against the working directory', () => {
    const snapshot = defaultConfig();
    expect(snapshot.sourceName).toBe('<embedded default>');
    expect(snapshot.configDir).toBe(process.cwd());
  });
});
