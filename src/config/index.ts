/**
 * @module src/config
 *
 * The config module's public surface: load and validate a YAML config into an
 * immutable ConfigSnapshot, the embedded default, `ferry validate`, and the
 * snapshot types every other control-plane folder reads. Thread: main
 * (control plane). Place in the flow: **config** -> table <- health/failover.
 * Nothing outside src/config/ imports its other files.
 */
export { type HostPort, parseAddress } from './address.ts';
export {
  type ConfigError,
  ConfigLoadError,
  configErrorsCode,
  countErrors,
  formatConfigErrors,
  formatConfigPath,
} from './config-error.ts';
export {
  type ControlAddress,
  type ControlAddressParse,
  isLoopbackControlAddress,
  parseControlAddress,
} from './control-address.ts';
export { DEFAULT_CONFIG_SOURCE_NAME, DEFAULT_CONFIG_YAML, defaultConfig } from './default-config.ts';
export { DURATION_MS_MAX, formatDurationMs, parseDuration } from './duration.ts';
export { type HashKey, type HashKeyKind, parseHashKey } from './hash-key.ts';
export { type Matcher, parseMatcher, type StatusRange } from './matcher.ts';
export {
  type AdminConfig,
  CONFIG_BYTES_MAX,
  type ConfigResult,
  type ConfigSnapshot,
  configDocument,
  type HealthCheckConfig,
  type LimitsConfig,
  type ListenerConfig,
  loadConfigFile,
  type OutlierDetectionConfig,
  type ParseOptions,
  parseConfig,
  parseConfigFile,
  resolveConfigPath,
  type TargetConfig,
  type TargetGroupConfig,
  type UpstreamTimeoutsConfig,
} from './parse.ts';
export { renderConfigReference } from './reference.ts';
export {
  type ConfigInput,
  configSchema,
  HEALTH_CHECK_PROTOCOLS,
  type HealthCheckProtocol,
  LISTENER_PROTOCOLS,
  type ListenerProtocol,
  SCHEMES,
  type Scheme,
} from './schema.ts';
export { type CommandOutput, runValidate } from './validate-command.ts';
