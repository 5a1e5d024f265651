/**
 * The rules across fields (src/config/rules.ts): unique names and addresses,
 * references, options that depend on the algorithm or the listeners, and
 * table capacity. Tested on raw YAML data, as parse.ts calls them.
 */
import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../../src/config/config-error.ts';
import { parseConfig } from '../../../../src/config/parse.ts';
import { checkConfigRules } from '../../../../src/config/rules.ts';

interface RawListener {
  name?: unknown;
  protocol?: string;
  address?: unknown;
  addTargetHeader?: boolean;
  defaultAction?: unknown;
}
interface RawGroup {
  name?: unknown;
  algorithm?: string;
  hash?: unknown;
  targets?: unknown;
  healthCheck?: Record<string, unknown>;
}

function listener(name: string, address: string, targetGroup: string, extra: RawListener = {}): RawListener {
  return { name, address, defaultAction: { forward: { targetGroup } }, ...extra };
}

function group(name: string, addresses: readonly string[] = [], extra: RawGroup = {}): RawGroup {
  return { name, targets: addresses.map((address) => ({ address })), ...extra };
}

function lines(errors: readonly ConfigError[]): string[] {
  return errors.map((error) => `${error.path}: ${error.message}`);
}

describe('checkConfigRules', () => {
  describe('when the config is consistent', () => {
    it('reports nothing', () => {
      const raw = {
        listeners: [
          listener('web', '0.0.0.0:8080', 'api'),
          listener('db', '0.0.0.0:5432', 'pg', { protocol: 'TCP' }),
        ],
        targetGroups: [group('api', ['127.0.0.1:9001', '127.0.0.1:9002']), group('pg', ['10.0.0.5:5432'])],
      };
      expect(checkConfigRules(raw)).toEqual([]);
    });
  });

  describe('when names repeat', () => {
    it('reports a duplicate listener name at the second one', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'api'), listener('web', '127.0.0.1:8081', 'api')],
        targetGroups: [group('api')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[1].name: duplicate listener name "web" (also listeners[0].name)',
      ]);
    });

    it('reports a duplicate target-group name at the second one', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'api')],
        targetGroups: [group('api'), group('other'), group('api')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[2].name: duplicate target group name "api" (also targetGroups[0].name)',
      ]);
    });
  });

  describe('when a group lists one target twice', () => {
    it('reports the second, whatever the host name case', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'api')],
        targetGroups: [group('api', ['Api.internal:9001', '127.0.0.1:9001', 'api.INTERNAL:9001'])],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[0].targets[2].address: duplicate target api.INTERNAL:9001 in this group (also targets[0])',
      ]);
    });

    it('allows the same target in two groups', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'a')],
        targetGroups: [group('a', ['127.0.0.1:9001']), group('b', ['127.0.0.1:9001'])],
      };
      expect(checkConfigRules(raw)).toEqual([]);
    });
  });

  describe('when listener addresses collide', () => {
    it('reports two listeners on the same address', () => {
      const raw = {
        listeners: [listener('a', '127.0.0.1:8080', 'api'), listener('b', '127.0.0.1:8080', 'api')],
        targetGroups: [group('api')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[1].address: 127.0.0.1:8080 overlaps listeners[0].address (127.0.0.1:8080): both bind port 8080',
      ]);
    });

    it('reports a wildcard listener over a specific one on the same port', () => {
      const raw = {
        listeners: [listener('a', '127.0.0.1:8080', 'api'), listener('b', '[::]:8080', 'api')],
        targetGroups: [group('api')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[1].address: [::]:8080 overlaps listeners[0].address (127.0.0.1:8080): both bind port 8080',
      ]);
    });

    it('reports a listener on the admin address, default or explicit', () => {
      const onDefault = { listeners: [listener('a', '0.0.0.0:9901', 'api')], targetGroups: [group('api')] };
      expect(lines(checkConfigRules(onDefault))).toEqual([
        'listeners[0].address: 0.0.0.0:9901 overlaps admin.address (127.0.0.1:9901): both bind port 9901',
      ]);
      const onExplicit = { ...onDefault, admin: { address: '127.0.0.1:9999' } };
      expect(checkConfigRules(onExplicit)).toEqual([]);
    });

    it('allows different hosts on one port, and any number of port-0 listeners', () => {
      const raw = {
        listeners: [
          listener('a', '127.0.0.1:8080', 'api'),
          listener('b', '127.0.0.2:8080', 'api'),
          listener('c', '127.0.0.1:0', 'api'),
          listener('d', '127.0.0.1:0', 'api'),
        ],
        targetGroups: [group('api')],
      };
      expect(checkConfigRules(raw)).toEqual([]);
    });
  });

  describe('when a listener forwards to an unknown target group', () => {
    it('suggests the closest name', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'apii')],
        targetGroups: [group('api'), group('web')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[0].defaultAction.forward.targetGroup: no target group named "apii" (did you mean "api"?)',
      ]);
    });

    it('lists the known names when none is close', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'backend')],
        targetGroups: [group('api'), group('web')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[0].defaultAction.forward.targetGroup: no target group named "backend" (known: api, web)',
      ]);
    });

    it('says so when no group is defined', () => {
      const raw = { listeners: [listener('web', '127.0.0.1:8080', 'api')] };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[0].defaultAction.forward.targetGroup: no target group named "api" (none are defined)',
      ]);
    });

    it('stays quiet while a group name is itself invalid (the schema reports that)', () => {
      const raw = { listeners: [listener('web', '127.0.0.1:8080', 'api')], targetGroups: [group('my api')] };
      expect(checkConfigRules(raw)).toEqual([]);
    });
  });

  describe('when hash settings do not fit the group', () => {
    it('reports hash on a group whose algorithm is not hash', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'api')],
        targetGroups: [group('api', [], { hash: { key: 'source_ip' } })],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[0].hash: applies only when algorithm is hash (this group uses round_robin)',
      ]);
    });

    it('reports a layer-7 hash key on a group a TCP listener uses', () => {
      const raw = {
        listeners: [listener('db', '127.0.0.1:5432', 'pg', { protocol: 'TCP' })],
        targetGroups: [group('pg', [], { algorithm: 'hash', hash: { key: 'header:x-user' } })],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[0].hash.key: header:x-user needs HTTP requests, but TCP listener "db" forwards to this group; use source_ip, source_ip_dest_ip or five_tuple',
      ]);
    });
  });

  describe('when an option needs HTTP', () => {
    it('reports addTargetHeader on a TCP listener', () => {
      const raw = {
        listeners: [listener('db', '127.0.0.1:5432', 'pg', { protocol: 'TCP', addTargetHeader: true })],
        targetGroups: [group('pg')],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'listeners[0].addTargetHeader: applies only to HTTP listeners; this listener is TCP',
      ]);
    });

    it('reports path and matcher on an explicit TCP health check', () => {
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'api')],
        targetGroups: [
          group('api', [], { healthCheck: { protocol: 'TCP', path: '/health', matcher: '200' } }),
        ],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[0].healthCheck.path: applies only to HTTP and HTTPS checks; the health check protocol is TCP',
        'targetGroups[0].healthCheck.matcher: applies only to HTTP and HTTPS checks; the health check protocol is TCP',
      ]);
    });

    it('explains the TCP default when only TCP listeners use the group', () => {
      const raw = {
        listeners: [listener('db', '127.0.0.1:5432', 'pg', { protocol: 'TCP' })],
        targetGroups: [group('pg', [], { healthCheck: { path: '/health' } })],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups[0].healthCheck.path: applies only to HTTP and HTTPS checks; the health check is TCP ' +
          '(the default when only layer-4 listeners forward to the group); set healthCheck.protocol: HTTP',
      ]);
    });
  });

  describe('when the config does not fit the table', () => {
    it('reports too many target groups with FERRY_ERR_CONFIG_CAPACITY', () => {
      const raw = {
        limits: { maxTargetGroups: 2 },
        listeners: [listener('web', '127.0.0.1:8080', 'g0')],
        targetGroups: [group('g0'), group('g1'), group('g2')],
      };
      expect(checkConfigRules(raw)).toEqual([
        {
          code: 'FERRY_ERR_CONFIG_CAPACITY',
          path: 'targetGroups',
          message: '3 target groups do not fit limits.maxTargetGroups (2); raise limits.maxTargetGroups',
        },
      ]);
    });

    it('counts targets over all groups against limits.maxTargets', () => {
      const raw = {
        limits: { maxTargets: 3 },
        listeners: [listener('web', '127.0.0.1:8080', 'a')],
        targetGroups: [
          group('a', ['127.0.0.1:1', '127.0.0.1:2']),
          group('b', ['127.0.0.1:1', '127.0.0.1:2']),
        ],
      };
      expect(checkConfigRules(raw)).toEqual([
        {
          code: 'FERRY_ERR_CONFIG_CAPACITY',
          path: 'targetGroups',
          message: '4 targets in all do not fit limits.maxTargets (3); raise limits.maxTargets',
        },
      ]);
    });

    it('applies the default limits when limits are left out', () => {
      const targets = Array.from({ length: 1025 }, (_, index) => `10.0.${index >> 8}.${index & 255}:80`);
      const raw = {
        listeners: [listener('web', '127.0.0.1:8080', 'a')],
        targetGroups: [group('a', targets)],
      };
      expect(lines(checkConfigRules(raw))).toEqual([
        'targetGroups: 1025 targets in all do not fit limits.maxTargets (1024); raise limits.maxTargets',
      ]);
    });
  });

  describe('when parts of the config are malformed', () => {
    it.each([
      null,
      'text',
      [],
      { listeners: 'x', targetGroups: 5 },
      { listeners: [null, 1], targetGroups: [[]] },
    ])('skips what the schema reports and never throws (%j)', (raw) => {
      expect(checkConfigRules(raw)).toEqual([]);
    });
  });
});

describe('parseConfig', () => {
  describe('when field errors and rule errors mix', () => {
    it('reports both kinds together', () => {
      const text = `
listeners:
  - { name: web, address: 127.0.0.1:8080, defaultAction: { forward: { targetGroup: api } } }
  - { name: web, address: 127.0.0.1:8081, defaultAction: { forward: { targetGroup: api } } }
targetGroups:
  - name: api
    targets: [{ address: 127.0.0.1:9001, weight: 2000 }, { address: 127.0.0.1:9001 }]
`;
      const result = parseConfig(text, 'x.yaml');
      expect(result.ok ? [] : lines(result.errors)).toEqual([
        'listeners[1].name: duplicate listener name "web" (also listeners[0].name)',
        'targetGroups[0].targets[0].weight: expected an integer 0..1000, got 2000',
        'targetGroups[0].targets[1].address: duplicate target 127.0.0.1:9001 in this group (also targets[0])',
      ]);
    });

    it('marks capacity errors with their code', () => {
      const text = `
limits: { maxTargets: 1 }
listeners: [{ name: web, address: 127.0.0.1:8080, defaultAction: { forward: { targetGroup: api } } }]
targetGroups: [{ name: api, targets: [{ address: 127.0.0.1:9001 }, { address: 127.0.0.1:9002 }] }]
`;
      const result = parseConfig(text, 'x.yaml');
      expect(result.ok ? [] : result.errors.map((error) => [error.code, error.path, error.line])).toEqual([
        ['FERRY_ERR_CONFIG_CAPACITY', 'targetGroups', 4],
      ]);
    });
  });
});
