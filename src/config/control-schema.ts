/**
 * @module src/config/control-schema
 *
 * The config keys of the control port and of hot failover, as zod fields
 * that schema.ts places:
 *
 *   control:  { address, tokenFile }                        (top level; absent = no control port)
 *   targetGroups[].failover: { standby, after, autoFailback }
 *
 * Thread: main (config time). Place in the flow: YAML -> schema.ts (+ these
 * fields) + control-rules.ts (standby references) -> ConfigSnapshot ->
 * src/control (the port) and src/failover (the manager).
 *
 * Kept apart from schema.ts so the control plane's keys live in one place
 * and schema.ts only gains the lines that place them.
 */
import { z } from 'zod';
import { CONTROL_ADDRESS_DEFAULT, CONTROL_TOKEN_ENV } from '../../proto/control/protocol.ts';
import { describeValue } from './config-error.ts';
import { type ControlAddress, parseControlAddress } from './control-address.ts';
import { formatDurationMs } from './duration.ts';
import { booleanField, durationField, nameField, unlessMissing } from './fields.ts';

/** Longest `control.tokenFile` path, in characters. */
export const TOKEN_FILE_PATH_LENGTH_MAX = 4_096;
/** Default `failover.after`: long enough that a single failed check round does not move traffic. */
export const FAILOVER_AFTER_DEFAULT_MS = 10_000;
/** Longest `failover.after`. */
export const FAILOVER_AFTER_MAX_MS = 3_600_000;

// === control ===
function controlAddressField() {
  return z
    .string({
      error: unlessMissing((input) => `expected host:port or unix:/path, got ${describeValue(input)}`),
    })
    .transform((text, ctx): ControlAddress => {
      const parsed = parseControlAddress(text);
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: 'custom', message: `${parsed.message}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    })
    .meta({
      'x-type': 'host:port or unix:/path',
      'x-allowed': 'IPv4, [IPv6] or host name with port 0..65535; or unix: and an absolute socket path',
    });
}

export const controlField = z
  .strictObject({
    address: controlAddressField()
      .prefault(CONTROL_ADDRESS_DEFAULT)
      .describe(
        'Where the control port listens (ferryctl connects here). A non-loopback address needs a token, or Ferry refuses to start.',
      ),
    tokenFile: z
      .string({ error: unlessMissing((input) => `expected a file path, got ${describeValue(input)}`) })
      .min(1, { error: 'expected a file path, got an empty string' })
      .max(TOKEN_FILE_PATH_LENGTH_MAX, {
        error: `expected a path of at most ${TOKEN_FILE_PATH_LENGTH_MAX} characters`,
      })
      .optional()
      .meta({
        description:
          'File holding the token every control connection must present (relative to the config file; surrounding whitespace ignored; at least 16 bytes). Read at start.',
        'x-default': `none: the ${CONTROL_TOKEN_ENV} environment variable, else no token (loopback only)`,
      }),
  })
  .transform((control) => ({ address: control.address, tokenFile: control.tokenFile ?? null }))
  .optional()
  .meta({
    description:
      'The control port: a versioned msgpack protocol for ferryctl (targets, register, weights, attributes, failover, drain, reload, stats). See docs/control-port.md.',
    'x-default': 'off (no control port) when the key is absent; `control: {}` listens on 127.0.0.1:9900',
  });

// === targetGroups[].failover ===
export const failoverField = z
  .strictObject({
    standby: nameField('target group name', 'another target group, which has no standby itself').describe(
      "The target group that takes this group's traffic on failover (`ferryctl failover`, or automatically). Its targets are health-checked like a group in use.",
    ),
    after: durationField(0, FAILOVER_AFTER_MAX_MS)
      .prefault(formatDurationMs(FAILOVER_AFTER_DEFAULT_MS))
      .describe(
        'Fail over automatically once the group has had no routable target (healthy, not ejected, weight above 0) for this long, if the standby has one.',
      ),
    autoFailback: booleanField()
      .default(true)
      .describe(
        'After an automatic failover, switch back as soon as the group has a routable target again. A failover made by command is only undone by command.',
      ),
  })
  .transform((failover) => ({
    standby: failover.standby,
    afterMs: failover.after,
    autoFailback: failover.autoFailback,
  }))
  .optional()
  .meta({
    description:
      'Hot failover to a standby target group: one atomic switch every worker sees on its next pick; in-flight requests finish where they are. See docs/control-port.md.',
    'x-default': 'none: no standby, no failover',
  });
