/**
 * @module workers/simulate
 *
 * The replay simulator's engine (engine.ts): the data plane's own balancers
 * and record function over a simulated table and a simulated clock. Thread:
 * the worker `ferry simulate` starts (entry.ts), or a test. Nothing outside
 * workers/simulate/ imports its other files.
 */
export { simulate, simulateAlgorithm } from './engine.ts';
