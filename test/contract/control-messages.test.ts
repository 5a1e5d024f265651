/**
 * Contract of the control protocol (proto/control/): every message type —
 * the hello handshake, a request and a reply of every op, an error reply
 * with details, a connection-level error — survives a msgpackr round trip
 * through the real frame encoder and decoders unchanged, and every example
 * request is accepted by the server's own argument check. The examples are
 * typed by the proto shapes, so a shape change that the server does not
 * follow (or the reverse) fails here (STYLE §10).
 */
import { describe, expect, it } from 'vitest';
import {
  CONTROL_OPS,
  type ControlOp,
  type ControlOpShapes,
  type FailoverGroupStatus,
} from '../../proto/control/messages.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlErrorReply,
  type ControlReply,
  FRAME_HEADER_BYTES,
  HELLO_OP,
  type HelloArgs,
  type HelloResult,
} from '../../proto/control/protocol.ts';
import { ERROR_CODES } from '../../proto/error-codes.ts';
import {
  CONTROL_HANDLERS,
  decodeReply,
  decodeRequest,
  encodeFrame,
  FrameDecoder,
  parseArgs,
} from '../../src/control/index.ts';

type Examples = { readonly [Op in ControlOp]: ControlOpShapes[Op] };

const GROUP_STATUS: FailoverGroupStatus = {
  targetGroup: 'api',
  standby: 'api-standby',
  routeTo: 'api-standby',
  mode: 'auto',
  sinceMs: 1_790_000_000_000,
  afterMs: 10_000,
  autoFailback: true,
  isPrimaryRoutable: false,
  isStandbyRoutable: true,
  unroutableSinceMs: 1_789_999_990_000,
  switchesTotal: 3,
  lastSwitch: {
    atMs: 1_790_000_000_000,
    from: 'api',
    to: 'api-standby',
    trigger: 'auto-failover',
    observedUs: 412,
  },
};

/** One request and one reply of every op, as the proto shapes describe them. */
const EXAMPLES: Examples = {
  explain: {
    args: { targetGroup: 'api', address: '127.0.0.1:9001' },
    result: {
      atMs: 1_790_000_000_000,
      targetGroup: 'api',
      address: '127.0.0.1:9001',
      slot: 3,
      algorithm: 'least_outstanding_requests',
      isInRotation: false,
      because: ['outlier_ejected', 'healthy'],
      summary: 'out of rotation: ejected by outlier detection (consecutive5xx) for another 28 s, ejection 1.',
      state: 'healthy',
      reason: null,
      description: null,
      stateSinceMs: 1_789_999_000_000,
      healthCheck: {
        enabled: true,
        protocol: 'HTTP',
        port: 'traffic-port',
        path: '/healthz',
        intervalMs: 10_000,
        timeoutMs: 2_000,
        healthyThreshold: 3,
        unhealthyThreshold: 2,
        matcher: '200',
        consecutiveSuccesses: 12,
        consecutiveFailures: 0,
        outcomesTotal: { pass: 40, status: 1, timeout: 2, error: 0 },
      },
      recentChecks: [
        {
          atMs: 1_789_999_990_000,
          durationMs: 3,
          statusCode: 200,
          outcome: 'pass',
          reason: null,
          description: null,
        },
        {
          atMs: 1_789_999_980_000,
          durationMs: 2_000,
          statusCode: null,
          outcome: 'timeout',
          reason: 'Target.Timeout',
          description: 'Request timed out after 2000 ms',
        },
      ],
      outlier: {
        isEjected: true,
        ejectedUntilMs: 1_790_000_028_000,
        multiplier: 1,
        ejectionsTotal: 1,
        consecutive5xx: 0,
        consecutiveGatewayFailures: 0,
        ejections: [
          { atMs: 1_789_999_998_000, trigger: 'consecutive5xx', count: 5, multiplier: 1, durationMs: 30_000 },
        ],
      },
      weight: { configured: 5, effective: 5 },
      slowStart: { sinceMs: 1_789_999_900_000, untilMs: 1_790_000_020_000, percent: 60 },
      drain: null,
      load: { inFlight: 0, activeConnections: 2, latencyEwmaUs: null },
      failedOverTo: null,
      routes: [
        { listener: 'web', rulePriority: null, targetGroup: 'api' },
        { listener: 'web', rulePriority: 10, targetGroup: 'api-canary' },
      ],
      traffic: { windowMs: 300_000, requests: 120, groupRequests: 480, sharePercent: 25 },
      transitions: [{ atMs: 1_789_999_000_000, from: 'initial', to: 'healthy', reason: null }],
    },
  },
  targets: {
    args: { targetGroup: 'api' },
    result: {
      atMs: 1_790_000_000_000,
      targetGroups: [
        {
          name: 'api',
          routeTo: 'api',
          algorithm: 'least_outstanding_requests',
          targets: [
            {
              address: '127.0.0.1:9001',
              state: 'unhealthy',
              reason: 'Target.Timeout',
              description: 'Request timed out',
              timeInStateMs: 1_500,
              activeConnections: 4,
              inFlight: 2,
              latencyEwmaUs: 1_250,
              weight: { configured: 5, effective: 5 },
              isEjected: false,
              drain: null,
            },
            {
              address: '[::1]:9002',
              state: 'draining',
              reason: 'Target.DeregistrationInProgress',
              description: 'Target deregistration is in progress',
              timeInStateMs: 10,
              activeConnections: 0,
              inFlight: 0,
              latencyEwmaUs: null,
              weight: { configured: 1, effective: 0 },
              isEjected: true,
              drain: { sinceMs: 1_790_000_000_000, deadlineMs: 1_790_000_030_000 },
            },
          ],
        },
      ],
    },
  },
  register: {
    args: {
      targetGroup: 'api',
      targets: [{ address: '127.0.0.1:9003', weight: 3 }, { address: '10.0.0.4:80' }],
    },
    result: {
      targetGroup: 'api',
      registered: [
        { address: '127.0.0.1:9003', weight: 3, state: 'initial' },
        { address: '10.0.0.4:80', weight: 1, state: 'initial' },
      ],
    },
  },
  deregister: {
    args: { targetGroup: 'api', addresses: ['127.0.0.1:9001'] },
    result: {
      targetGroup: 'api',
      draining: [{ address: '127.0.0.1:9001', inFlight: 7, deadlineMs: 1_790_000_030_000 }],
    },
  },
  'set-weight': {
    args: { targetGroup: 'api', address: '127.0.0.1:9001', weight: 0 },
    result: {
      targetGroup: 'api',
      address: '127.0.0.1:9001',
      previous: 5,
      weight: { configured: 0, effective: 0 },
    },
  },
  'set-attributes': {
    args: {
      targetGroup: 'api',
      attributes: { algorithm: 'least_connections', deregistrationDelay: '5s', stickiness: 'on' },
    },
    result: {
      targetGroup: 'api',
      changed: [
        { key: 'algorithm', from: 'round_robin', to: 'least_connections' },
        { key: 'deregistrationDelay', from: null, to: '5s' },
      ],
    },
  },
  failover: {
    args: { targetGroup: 'api', to: 'api-standby', force: false },
    result: {
      targetGroup: 'api',
      from: 'api',
      to: 'api-standby',
      isChanged: true,
      generation: 42,
      observedUs: 380,
      workerCount: 2,
    },
  },
  failback: {
    args: { targetGroup: 'api', force: true },
    result: {
      targetGroup: 'api',
      from: 'api-standby',
      to: 'api',
      isChanged: true,
      generation: 44,
      observedUs: 95,
      workerCount: 2,
    },
  },
  'failover-status': {
    args: {},
    result: { groups: [GROUP_STATUS], switchesTotal: 3, autoFailoversTotal: 2, autoFailbacksTotal: 1 },
  },
  drain: {
    args: { graceMs: 30_000, delayMs: 5_000 },
    result: {
      durationMs: 5_812,
      drainDelayMs: 5_000,
      connectionsAtStart: 12,
      inFlightAtStart: 3,
      inFlightAtEnd: 0,
      isComplete: true,
      isCancelled: false,
    },
  },
  undrain: { args: {}, result: { outcome: 'undrained' } },
  reload: {
    args: {},
    result: {
      source: '/etc/ferry/ferry.yaml',
      isChanged: true,
      diff: {
        targetGroupsAdded: ['reports'],
        targetGroupsRemoved: [],
        targetGroupsChanged: ['api'],
        targetsAdded: [{ targetGroup: 'reports', address: '10.0.0.9:8080' }],
        targetsRemoved: [{ targetGroup: 'api', address: '127.0.0.1:9001' }],
        weightsChanged: [{ targetGroup: 'api', address: '[::1]:9002', from: 1, to: 4 }],
      },
    },
  },
  stats: {
    args: {},
    result: {
      atMs: 1_790_000_000_000,
      uptimeMs: 3_600_000,
      config: '/etc/ferry/ferry.yaml',
      generation: 42,
      workerRestartsTotal: 0,
      workers: [
        { index: 0, isLive: true, activeConnections: 8, requestsTotal: 123_456, observedGeneration: 42 },
      ],
      targetGroups: [{ name: 'api', routeTo: 'api', failOpenRequestsTotal: 0, noTargetRequestsTotal: 2 }],
      targets: [
        {
          targetGroup: 'api',
          address: '127.0.0.1:9001',
          requestsTotal: 99_000,
          failuresTotal: 3,
          inFlight: 1,
          activeConnections: 4,
        },
      ],
      failover: { switchesTotal: 3, autoFailoversTotal: 2, autoFailbacksTotal: 1 },
      control: {
        connectionsOpen: 1,
        connectionsTotal: 17,
        connectionsRefusedTotal: 0,
        requestsTotal: 40,
        authFailuresTotal: 2,
        frameErrorsTotal: 1,
      },
    },
  },
};

/** Encode as a frame, split it into 1-byte chunks, decode the frame back. */
function throughTheWire(value: unknown): Buffer {
  const frame = encodeFrame(value);
  expect(frame.readUInt32BE(0)).toBe(frame.length - FRAME_HEADER_BYTES);
  const decoder = new FrameDecoder(frame.length);
  for (let i = 0; i < frame.length; i++) decoder.push(frame.subarray(i, i + 1));
  const result = decoder.next();
  if (result.kind !== 'frame') throw new Error(`expected a frame, got ${result.kind}`);
  expect(decoder.next()).toEqual({ kind: 'need-more' });
  return result.payload;
}

describe('the control protocol', () => {
  it('has an example for every op, and a server handler for every op and nothing else', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual([...CONTROL_OPS].sort());
    expect([...CONTROL_HANDLERS.keys()].sort()).toEqual([...CONTROL_OPS].sort());
  });

  describe('hello', () => {
    it('round-trips the handshake request and its reply', () => {
      const args: HelloArgs = {
        version: CONTROL_PROTOCOL_VERSION,
        token: 'secret-token-0123456789',
        client: 'ferryctl/0.1.0',
      };
      const request = { id: 1, op: HELLO_OP, args };
      expect(decodeRequest(throughTheWire(request))).toEqual({ ok: true, value: request });
      const withoutToken = { id: 2, op: HELLO_OP, args: { ...args, token: null } };
      expect(decodeRequest(throughTheWire(withoutToken))).toEqual({ ok: true, value: withoutToken });
      const result: HelloResult = {
        version: CONTROL_PROTOCOL_VERSION,
        server: 'ferry/0.1.0',
        ops: CONTROL_OPS,
      };
      const reply: ControlReply<HelloResult> = { id: 1, result };
      expect(decodeReply(throughTheWire(reply))).toEqual({
        ok: true,
        value: { id: 1, result: { ...result, ops: [...CONTROL_OPS] } },
      });
    });
  });

  describe.each(CONTROL_OPS)('%s', (op) => {
    const example = EXAMPLES[op];

    it('round-trips its request through msgpack, and the server accepts its args', () => {
      const request = { id: 7, op, args: example.args };
      const decoded = decodeRequest(throughTheWire(request));
      expect(decoded).toEqual({ ok: true, value: request });
      const handler = CONTROL_HANDLERS.get(op)!;
      expect(() => parseArgs(op, handler.args, decoded.ok ? decoded.value.args : null)).not.toThrow();
    });

    it('round-trips its reply through msgpack', () => {
      const reply: ControlReply = { id: 7, result: example.result };
      expect(decodeReply(throughTheWire(reply))).toEqual({ ok: true, value: reply });
    });

    it('refuses args with an unknown key (every shape is strict)', () => {
      const handler = CONTROL_HANDLERS.get(op)!;
      expect(() => parseArgs(op, handler.args, { ...example.args, unexpected: 1 })).toThrow(
        expect.objectContaining({ code: 'FERRY_ERR_CONTROL_BAD_ARGS' }),
      );
    });
  });

  describe('error replies', () => {
    it('round-trip with a registered code, and with details', () => {
      const reply: ControlErrorReply = {
        id: 9,
        error: {
          code: 'FERRY_ERR_CONFIG_INVALID',
          message: 'reload of ferry.yaml: 2 errors, nothing changed',
          details: [
            { path: 'targetGroups[0].algorithm', message: 'expected one of round_robin | …, got "fastest"' },
            {
              path: 'targetGroups[1].targets[0].address',
              message: 'expected host:port (the port is missing)',
            },
          ],
        },
      };
      expect(decodeReply(throughTheWire(reply))).toEqual({ ok: true, value: reply });
      expect(Object.keys(ERROR_CODES)).toContain(reply.error.code);
    });

    it('round-trip about the connection, with a nil id', () => {
      const reply: ControlErrorReply = {
        id: null,
        error: {
          code: 'FERRY_ERR_CONTROL_BAD_FRAME',
          message: 'a frame of 104857600 bytes is over the 1048576-byte limit',
        },
      };
      expect(decodeReply(throughTheWire(reply))).toEqual({ ok: true, value: reply });
    });
  });
});
