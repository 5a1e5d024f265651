import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DrainController } from '../../../../src/supervisor/index.ts';

/** A controller whose stop step waits until the test calls `finish` (real promises, no timers faked). */
function controller() {
  const stops: number[] = [];
  let finish: () => void = () => {};
  const drain = new DrainController({
    log: pino({ level: 'silent' }),
    openConnections: () => 7,
    requestsInFlight: () => 2,
    stopAccepting: (graceMs) => {
      stops.push(graceMs);
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    },
  });
  return { drain, stops, finish: () => finish() };
}

describe('DrainController', () => {
  it('is serving, and ready, until a drain begins', () => {
    const { drain } = controller();
    expect(drain.phase).toBe('serving');
    expect(drain.isServing()).toBe(true);
    expect(drain.undrain('control')).toBe('not-draining');
  });

  describe('when undrain comes during the delay', () => {
    it('cancels the drain before anything stops, and serves again', async () => {
      const { drain, stops } = controller();
      const result = drain.begin({ delayMs: 600_000, graceMs: 1_000, trigger: 'control' });
      expect(drain.phase).toBe('draining');
      expect(drain.isServing()).toBe(false);
      expect(drain.undrain('control')).toBe('undrained');
      expect(await result).toMatchObject({ isCancelled: true, isComplete: false, drainDelayMs: 600_000 });
      expect(drain.phase).toBe('serving');
      expect(stops).toEqual([]);
    });
  });

  describe('when a second drain begins while one runs', () => {
    it('joins the running one (SIGTERM after a preStop drain)', () => {
      const { drain } = controller();
      const first = drain.begin({ delayMs: 600_000, graceMs: 1_000, trigger: 'control' });
      const second = drain.begin({ delayMs: 0, graceMs: 5, trigger: 'SIGTERM' });
      expect(second).toBe(first);
      drain.undrain('control');
    });
  });

  describe('when the delay is over', () => {
    it('stops accepting with the grace period, refuses undrain, and reports what was open', async () => {
      const { drain, stops, finish } = controller();
      const result = drain.begin({ delayMs: 0, graceMs: 1_234, trigger: 'SIGTERM' });
      for (let i = 0; i < 100 && stops.length === 0; i++)
        await new Promise((resolve) => setImmediate(resolve));
      expect(stops).toEqual([1_234]);
      expect(drain.phase).toBe('stopping');
      expect(drain.undrain('control')).toBe('already-stopping');
      finish();
      expect(await result).toMatchObject({
        isCancelled: false,
        isComplete: true,
        connectionsAtStart: 7,
        inFlightAtStart: 2,
        inFlightAtEnd: 0,
      });
      expect(drain.phase).toBe('stopped');
      expect(drain.isServing()).toBe(false);
    });
  });
});
