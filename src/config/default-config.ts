/**
 * @module src/config/default-config
 *
 * The config Ferry runs on when started without `--config`: demo mode, so a
 * fresh clone does something useful and visible on `npm start`. Thread: main
 * (boot). Place in the flow: boot -> **default config** -> the same parse and
 * validation as any file.
 *
 * Why YAML text and not an object: it goes through exactly the path a user's
 * file does, and its text doubles as a starting point users can copy.
 * The demo targets on 127.0.0.1:18081..18083 are in-process servers started
 * only when `demo` is true (elsewhere); they answer with different delays.
 */
import { assert } from '../shared/assert.ts';
import { formatConfigErrors } from './config-error.ts';
import { type ConfigSnapshot, parseConfig } from './parse.ts';

/** The label the embedded default carries in logs and errors. */
export const DEFAULT_CONFIG_SOURCE_NAME = '<embedded default>';

export const DEFAULT_CONFIG_YAML = `# Ferry's embedded default: a demo. One HTTP listener on 127.0.0.1:8080 balances
# round robin over three demo targets that run inside Ferry itself and answer
# with different delays. Every response says which target answered, in the
# x-ferry-target header:   curl -i http://127.0.0.1:8080/
# Live status page: http://127.0.0.1:9901/   Control port (loopback, no token):
#   npm run ferryctl -- targets      (from a checkout; installed: ferryctl targets)
# Run your own config with: ferry --config ferry.yaml
demo: true
workers: 2
admin: { address: 127.0.0.1:9901 }
control: { address: 127.0.0.1:9900 }
listeners:
  - name: web
    protocol: HTTP
    address: 127.0.0.1:8080
    defaultAction: { forward: { targetGroup: demo } }
targetGroups:
  - name: demo
    algorithm: round_robin
    targets:
      - { address: 127.0.0.1:18081 }
      - { address: 127.0.0.1:18082 }
      - { address: 127.0.0.1:18083 }
`;

/**
 * The embedded default as a snapshot. Thread: main. Relative paths (none
 * today) resolve against the working directory. Throws only if the embedded
 * text is invalid, which is a bug that a unit test rules out.
 */
export function defaultConfig(): ConfigSnapshot {
  const result = parseConfig(DEFAULT_CONFIG_YAML, DEFAULT_CONFIG_SOURCE_NAME, { configDir: process.cwd() });
  assert(
    result.ok,
    `the embedded default config is invalid:\n${result.ok ? '' : formatConfigErrors(result.errors)}`,
  );
  return result.snapshot;
}
