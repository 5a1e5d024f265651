/**
 * @module src/demo
 *
 * The demo targets behind the embedded default config (public surface).
 * Thread: main.
 */
export { type DemoTargets, startDemoTargets } from './targets.ts';
