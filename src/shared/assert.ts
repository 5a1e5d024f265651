/**
 * @module src/shared/assert
 *
 * Invariant checks. Thread: both. `assert` marks something that cannot happen
 * unless Ferry has a bug: it throws, and in a worker that crashes the worker,
 * which the supervisor restarts (TigerStyle). Expected failures are values or
 * ProxyErrors, never asserts.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
