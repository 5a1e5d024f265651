/**
 * The control-port and failover keys of the config (src/config/control-schema.ts,
 * control-rules.ts, control-address.ts): defaults, addresses, ranges, standby
 * references, and the health-check protocol a standby inherits.
 */
import { describe, expect, it } from 'vitest';
import {
  type ConfigResult,
  type ConfigSnapshot,
  configDocument,
  isLoopbackControlAddress,
  parseConfig,
  parseControlAddress,
} from '../../../../src/config/index.ts';

function yaml(
  extra: { top?: string; api?: string; standby?: string; listenerProtocol?: string } = {},
): string {
  return `${extra.top ?? ''}
listeners:
  - name: web
    protocol: ${extra.listenerProtocol ?? 'HTTP'}
    address: 127.0.0.1:8080
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
${extra.api ?? ''}
    targets: [{ address: 127.0.0.1:9001 }]
  - name: api-standby
${extra.standby ?? ''}
    targets: [{ address: 127.0.0.1:9101 }]
`;
}

function snapshotOf(result: ConfigResult): ConfigSnapshot {
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return result.snapshot;
}

function errorLines(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected errors, got a valid config');
  return result.errors.map((error) => `${error.path}: ${error.message}`);
}

describe('control', () => {
  it('is off (null) when the key is absent', () => {
    expect(snapshotOf(parseConfig(yaml(), 'x.yaml')).control).toBeNull();
  });

  it('listens on 127.0.0.1:9900 without a token file when the block is empty', () => {
    expect(snapshotOf(parseConfig(yaml({ top: 'control: {}' }), 'x.yaml')).control).toEqual({
      address: { kind: 'tcp', address: '127.0.0.1:9900', host: '127.0.0.1', port: 9900 },
      tokenFile: null,
    });
  });

  it('accepts a Unix socket path and a token file', () => {
    const snapshot = snapshotOf(
      parseConfig(
        yaml({ top: 'control: { address: "unix:/run/ferry/control.sock", tokenFile: ./ferry.token }' }),
        'x.yaml',
      ),
    );
    expect(snapshot.control).toEqual({
      address: { kind: 'unix', address: 'unix:/run/ferry/control.sock', path: '/run/ferry/control.sock' },
      tokenFile: './ferry.token',
    });
  });

  describe('when a value is wrong', () => {
    it('reports each with its path', () => {
      expect(
        errorLines(
          parseConfig(
            yaml({ top: 'control: { address: "unix:relative.sock", tokenFile: "", port: 1 }' }),
            'x.yaml',
          ),
        ),
      ).toEqual([
        'control.address: expected unix:/absolute/path, got "unix:relative.sock"',
        'control.tokenFile: expected a file path, got an empty string',
        'control.port: unknown key; allowed here: address, tokenFile',
      ]);
    });

    it('refuses a control port on the port of a listener', () => {
      expect(errorLines(parseConfig(yaml({ top: 'control: { address: 0.0.0.0:8080 }' }), 'x.yaml'))).toEqual([
        'control.address: 0.0.0.0:8080 overlaps listeners[0].address (127.0.0.1:8080): both bind port 8080',
      ]);
    });
  });
});

describe('parseControlAddress', () => {
  it('reads host:port and unix:/path, and says what it expected otherwise', () => {
    expect(parseControlAddress('[::1]:9900')).toEqual({
      ok: true,
      value: { kind: 'tcp', address: '[::1]:9900', host: '::1', port: 9900 },
    });
    expect(parseControlAddress('localhost')).toEqual({
      ok: false,
      message: 'expected host:port (the port is missing) or unix:/path',
    });
  });
});

describe('isLoopbackControlAddress', () => {
  it.each([
    ['127.0.0.1:9900', true],
    ['127.8.9.10:9900', true],
    ['[::1]:9900', true],
    ['localhost:9900', true],
    ['unix:/tmp/ferry.sock', true],
    ['0.0.0.0:9900', false],
    ['[::]:9900', false],
    ['10.0.0.5:9900', false],
    ['ferry.internal:9900', false],
  ])('%s is loopback: %s', (text, isLoopback) => {
    const parsed = parseControlAddress(text);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(isLoopbackControlAddress(parsed.value)).toBe(isLoopback);
  });
});

describe('targetGroups[].failover', () => {
  it('is null without a standby, and fills after (10s) and autoFailback (true) by default', () => {
    const snapshot = snapshotOf(
      parseConfig(yaml({ api: '    failover: { standby: api-standby }' }), 'x.yaml'),
    );
    expect(snapshot.targetGroups[0]?.failover).toEqual({
      standby: 'api-standby',
      afterMs: 10_000,
      autoFailback: true,
    });
    expect(snapshot.targetGroups[1]?.failover).toBeNull();
  });

  it('gives the standby the health-check protocol of its primary’s listeners', () => {
    const snapshot = snapshotOf(
      parseConfig(
        yaml({ listenerProtocol: 'TCP', api: '    failover: { standby: api-standby, after: 0s }' }),
        'x.yaml',
      ),
    );
    expect(snapshot.targetGroups[0]?.healthCheck.protocol).toBe('TCP');
    expect(snapshot.targetGroups[1]?.healthCheck.protocol).toBe('TCP');
  });

  describe('when the standby is not usable', () => {
    it('reports an unknown group with a suggestion, itself, and a chain', () => {
      expect(
        errorLines(parseConfig(yaml({ api: '    failover: { standby: api-stanby }' }), 'x.yaml')),
      ).toEqual([
        'targetGroups[0].failover.standby: no target group named "api-stanby" (did you mean "api-standby"?)',
      ]);
      expect(errorLines(parseConfig(yaml({ api: '    failover: { standby: api }' }), 'x.yaml'))).toEqual([
        'targetGroups[0].failover.standby: a target group cannot be its own standby',
      ]);
      expect(
        errorLines(
          parseConfig(
            yaml({
              api: '    failover: { standby: api-standby }',
              standby: '    failover: { standby: api }',
            }),
            'x.yaml',
          ),
        ),
      ).toEqual([
        'targetGroups[0].failover.standby: api-standby has a failover standby of its own; chains are not supported (workers follow the failover pointer one hop)',
        'targetGroups[1].failover.standby: api has a failover standby of its own; chains are not supported (workers follow the failover pointer one hop)',
      ]);
    });

    it('reports values out of range and unknown keys', () => {
      expect(
        errorLines(
          parseConfig(
            yaml({ api: '    failover: { standby: api-standby, after: 2h, autoFailback: yes, delay: 1s }' }),
            'x.yaml',
          ),
        ),
      ).toEqual([
        'targetGroups[0].failover.after: expected a duration 0s..1h, got "2h"',
        'targetGroups[0].failover.autoFailback: expected true or false, got "yes"',
        'targetGroups[0].failover.delay: unknown key; allowed here: standby, after, autoFailback',
      ]);
    });
  });
});

describe('configDocument', () => {
  it('keeps the YAML document a snapshot was parsed from, frozen', () => {
    const snapshot = snapshotOf(parseConfig(yaml({ top: 'control: {}' }), 'x.yaml'));
    const document = configDocument(snapshot) as { control: object; targetGroups: unknown[] };
    expect(document.control).toEqual({});
    expect(document.targetGroups).toHaveLength(2);
    expect(Object.isFrozen(document)).toBe(true);
  });
});
