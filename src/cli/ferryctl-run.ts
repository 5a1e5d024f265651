/**
 * @module src/cli/ferryctl-run
 *
 * The `ferryctl` command (loaded by src/cli/ferryctl.ts after its Node check): talks to a running Ferry's control port (targets,
 * register, deregister, weights, attributes, failover, drain, reload, stats).
 * Runs in its own process, never in Ferry's; it imports the config module
 * (addresses, durations) and the control client only.
 *
 * Where the port and token come from, first match wins:
 *   address: --control, the control block of --config, FERRY_CONTROL, 127.0.0.1:9900
 *   token:   --token-file, control.tokenFile of --config, FERRY_CONTROL_TOKEN, none
 *
 * Output is a human-readable table by default and the reply's JSON with
 * --json. Exit codes: 0 done; 1 Ferry refused or failed the operation; 2 the
 * command line or config is wrong; 3 Ferry cannot be reached.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type {
  DeregisterResult,
  DiscoveryStatus,
  DrainResult,
  ExplainResult,
  FailoverStatusResult,
  RegisterResult,
  ReloadResult,
  SetAttributesResult,
  SetWeightResult,
  StatsResult,
  SwitchResult,
  TargetsResult,
  UndrainResult,
} from '../../proto/control/messages.ts';
import {
  CONTROL_ADDRESS_DEFAULT,
  CONTROL_ADDRESS_ENV,
  CONTROL_TOKEN_ENV,
} from '../../proto/control/protocol.ts';
import {
  type ControlAddress,
  formatDurationMs,
  parseControlAddress,
  parseDuration,
} from '../config/index.ts';
import { ControlClient, ControlClientError, packageVersion, readTokenFile } from '../control/index.ts';
import { isProxyError } from '../shared/errors.ts';

const USAGE = `usage: ferryctl [options] <command> [arguments]

commands:
  targets [--target-group G]            every target: state, reason, connections, in-flight, latency, weight
  register G ADDRESS[:weight]...        add targets to target group G
  deregister G ADDRESS... [--no-wait]   drain targets out of G; shows progress until they are gone
  set-weight G ADDRESS W                set a target's weight (0..1000; 0 takes no new traffic)
  set-attributes G key=value...         algorithm, hash.key, deregistrationDelay, slowStart, failOpen,
                                        stickiness (on|off), stickiness.duration, failover.after, ...
                                        (value "default" removes the key)
  failover G [--to STANDBY] [--force]   send G's traffic to its standby; returns once every worker switched
  failback G [--force]                  send G's traffic back to its own targets
  failover-status [G]                   where each group's traffic goes, and why
  drain [--grace 30s] [--delay 5s]     /readyz 503 now; keep serving for the delay (config drainDelay), then
                                        stop accepting, let in-flight requests finish, report
  undrain                               undo a drain during its delay: serve and be ready again
  reload                                re-read Ferry's config file: apply it whole, or reject it with every error
  stats                                 counters per worker, group and target; failover and control-port counts
  explain G ADDRESS                     why a target is in or out of rotation: state, reason, recent checks,
                                        ejections, slow start, drain, the rules that reach it, its traffic share

options:
  --control ADDRESS    host:port or unix:/path (env ${CONTROL_ADDRESS_ENV}; default ${CONTROL_ADDRESS_DEFAULT})
  --token-file F       file holding the control token (env ${CONTROL_TOKEN_ENV} holds the token itself)
  --config ferry.yaml  take the address and token file from the config's control block
  --json               print the reply as JSON (errors too, as {"error": {...}})
  -h, --help           this text
  -v, --version        ferryctl's version

exit codes: 0 done, 1 Ferry refused or failed it, 2 bad command line or config, 3 Ferry unreachable
`;

const EXIT_OK = 0;
const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;
const EXIT_UNREACHABLE = 3;
/** How often `deregister` asks how the drain goes. */
const DRAIN_POLL_MS = 200;

class UsageError extends Error {}

interface Options {
  control?: string | undefined;
  'token-file'?: string | undefined;
  config?: string | undefined;
  json?: boolean | undefined;
  help?: boolean | undefined;
  version?: boolean | undefined;
  'target-group'?: string | undefined;
  to?: string | undefined;
  force?: boolean | undefined;
  'no-wait'?: boolean | undefined;
  grace?: string | undefined;
  delay?: string | undefined;
}

type Print = (line: string) => void;

async function main(argv: string[]): Promise<number> {
  let values: Options;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        control: { type: 'string' },
        'token-file': { type: 'string' },
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        'target-group': { type: 'string' },
        to: { type: 'string' },
        force: { type: 'boolean' },
        'no-wait': { type: 'boolean' },
        grace: { type: 'string' },
        delay: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    process.stderr.write(`ferryctl: ${(error as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (values.version === true) {
    process.stdout.write(`ferryctl ${packageVersion()}\n`);
    return EXIT_OK;
  }
  const [command, ...rest] = positionals;
  const isJson = values.json === true;
  const print: Print = (line) => process.stdout.write(`${line}\n`);
  let client: ControlClient | null = null;
  try {
    if (command === undefined) throw new UsageError('a command is required');
    const request = buildRequest(command, rest, values);
    const target = await resolveTarget(values);
    client = await ControlClient.connect({
      address: target.address,
      token: target.token,
      client: `ferryctl/${packageVersion()}`,
    });
    const result = await client.send(request.op, request.args);
    if (isJson) {
      // Scripts get the reply as is (deregister does not wait: poll `targets --json` for the drain).
      print(JSON.stringify(result, null, 2));
      return EXIT_OK;
    }
    await render(request.op, result, { client, print, isWaiting: values['no-wait'] !== true });
    return EXIT_OK;
  } catch (error) {
    return reportError(error, isJson);
  } finally {
    client?.close();
  }
}

// === Command line -> request ===

interface Request {
  readonly op: string;
  readonly args: Record<string, unknown>;
}

function buildRequest(command: string, rest: readonly string[], values: Options): Request {
  const need = (count: number, shape: string) => {
    if (rest.length < count) throw new UsageError(`${command}: expected ${shape}`);
  };
  const none = () => {
    if (rest.length > 0) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(rest[0])}`);
  };
  switch (command) {
    case 'targets':
      none();
      return {
        op: 'targets',
        args: values['target-group'] === undefined ? {} : { targetGroup: values['target-group'] },
      };
    case 'register':
      need(2, 'G ADDRESS[:weight]...');
      return { op: 'register', args: { targetGroup: rest[0], targets: rest.slice(1).map(targetWithWeight) } };
    case 'deregister':
      need(2, 'G ADDRESS...');
      return { op: 'deregister', args: { targetGroup: rest[0], addresses: rest.slice(1) } };
    case 'set-weight': {
      if (rest.length !== 3) throw new UsageError('set-weight: expected G ADDRESS W');
      const weight = Number(rest[2]);
      if (rest[2]!.trim() === '' || !Number.isFinite(weight)) {
        throw new UsageError(`set-weight: W must be a number 0..1000, got ${JSON.stringify(rest[2])}`);
      }
      return { op: 'set-weight', args: { targetGroup: rest[0], address: rest[1], weight } };
    }
    case 'set-attributes': {
      need(2, 'G key=value...');
      const attributes: Record<string, string> = {};
      for (const pair of rest.slice(1)) {
        const equals = pair.indexOf('=');
        if (equals <= 0)
          throw new UsageError(`set-attributes: expected key=value, got ${JSON.stringify(pair)}`);
        attributes[pair.slice(0, equals)] = pair.slice(equals + 1);
      }
      return { op: 'set-attributes', args: { targetGroup: rest[0], attributes } };
    }
    case 'failover':
      if (rest.length !== 1) throw new UsageError('failover: expected G');
      return {
        op: 'failover',
        args: {
          targetGroup: rest[0],
          ...(values.to === undefined ? {} : { to: values.to }),
          ...(values.force === true ? { force: true } : {}),
        },
      };
    case 'failback':
      if (rest.length !== 1) throw new UsageError('failback: expected G');
      return {
        op: 'failback',
        args: { targetGroup: rest[0], ...(values.force === true ? { force: true } : {}) },
      };
    case 'failover-status':
      if (rest.length > 1) throw new UsageError('failover-status: expected at most one target group');
      return { op: 'failover-status', args: rest[0] === undefined ? {} : { targetGroup: rest[0] } };
    case 'drain': {
      none();
      const args: Record<string, number> = {};
      for (const [flag, key] of [
        ['grace', 'graceMs'],
        ['delay', 'delayMs'],
      ] as const) {
        const text = values[flag];
        if (text === undefined) continue;
        const parsed = parseDuration(text);
        if (!parsed.ok) throw new UsageError(`drain --${flag}: ${parsed.message}`);
        args[key] = parsed.ms;
      }
      return { op: 'drain', args };
    }
    case 'undrain':
      none();
      return { op: 'undrain', args: {} };
    case 'explain':
      if (rest.length !== 2) throw new UsageError('explain: expected G ADDRESS');
      return { op: 'explain', args: { targetGroup: rest[0], address: rest[1] } };
    case 'reload':
    case 'stats':
      none();
      return { op: command, args: {} };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `host:port` or `host:port:weight` (`[v6]:port:weight`); a weight is the third colon-separated part. */
function targetWithWeight(text: string): { address: string; weight?: number } {
  const unbracketed = text.startsWith('[') ? text.slice(text.indexOf(']') + 1) : text;
  const colons = unbracketed.split(':').length - 1;
  if (colons < 2) return { address: text };
  const last = text.lastIndexOf(':');
  const weightText = text.slice(last + 1);
  const weight = Number(weightText);
  if (weightText === '' || !Number.isFinite(weight)) {
    throw new UsageError(`register: ${JSON.stringify(text)}: the weight after the port must be a number`);
  }
  return { address: text.slice(0, last), weight };
}

// === Where Ferry is ===

async function resolveTarget(values: Options): Promise<{ address: ControlAddress; token: string | null }> {
  let addressText = values.control;
  let tokenFile = values['token-file'] ?? null;
  if (values.config !== undefined) {
    const control = await controlBlockOf(values.config);
    addressText ??= control.address;
    if (tokenFile === null && control.tokenFile !== null) tokenFile = control.tokenFile;
  }
  addressText ??= process.env[CONTROL_ADDRESS_ENV] || CONTROL_ADDRESS_DEFAULT;
  const parsedAddress = parseControlAddress(addressText);
  if (!parsedAddress.ok)
    throw new UsageError(`control address ${JSON.stringify(addressText)}: ${parsedAddress.message}`);
  let token: string | null = null;
  if (tokenFile !== null) token = await readTokenFile(tokenFile, '--token-file');
  else if ((process.env[CONTROL_TOKEN_ENV]?.trim() ?? '') !== '')
    token = process.env[CONTROL_TOKEN_ENV]!.trim();
  return { address: parsedAddress.value, token };
}

/**
 * The `control` block of a config file, read on its own: the rest of the
 * file may be broken (that is what `reload` is for, and Ferry will list
 * every error), but ferryctl must still find the port. The token file is
 * resolved against the config file's folder, as Ferry does.
 */
async function controlBlockOf(path: string): Promise<{ address: string; tokenFile: string | null }> {
  let document: unknown;
  try {
    document = parseYaml(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--config ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  const control = isRecord(document) ? document['control'] : undefined;
  if (!isRecord(control)) {
    throw new UsageError(`--config ${path} has no control block: its Ferry has no control port`);
  }
  const address = control['address'] ?? CONTROL_ADDRESS_DEFAULT;
  const tokenFile = control['tokenFile'] ?? null;
  if (typeof address !== 'string' || (tokenFile !== null && typeof tokenFile !== 'string')) {
    throw new UsageError(`--config ${path}: control.address and control.tokenFile must be strings`);
  }
  return { address, tokenFile: tokenFile === null ? null : resolve(dirname(resolve(path)), tokenFile) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// === Errors ===

function reportError(error: unknown, isJson: boolean): number {
  let code: string;
  let message: string;
  let details: readonly { path: string; message: string }[] = [];
  let exitCode = EXIT_REFUSED;
  if (error instanceof UsageError) {
    code = 'usage';
    message = error.message;
    exitCode = EXIT_USAGE;
  } else if (error instanceof ControlClientError) {
    code = error.code;
    message = error.message;
    details = error.details;
    if (code === 'FERRY_ERR_CONTROL_UNREACHABLE') exitCode = EXIT_UNREACHABLE;
  } else if (isProxyError(error)) {
    code = error.code;
    message = error.message;
    exitCode = EXIT_USAGE;
  } else {
    code = 'FERRY_ERR_INTERNAL_BUG';
    message = error instanceof Error ? error.message : String(error);
  }
  if (isJson) process.stdout.write(`${JSON.stringify({ error: { code, message, details } }, null, 2)}\n`);
  const firstLine = message.split('\n')[0];
  process.stderr.write(`ferryctl: ${code === 'usage' ? '' : `${code}: `}${firstLine}\n`);
  for (const line of message.split('\n').slice(1)) process.stderr.write(`${line}\n`);
  for (const detail of details) {
    process.stderr.write(`  ${detail.path === '' ? '' : `${detail.path}: `}${detail.message}\n`);
  }
  if (exitCode === EXIT_USAGE && code === 'usage')
    process.stderr.write('(ferryctl --help lists the commands)\n');
  return exitCode;
}

// === Output ===

interface RenderContext {
  readonly client: ControlClient;
  readonly print: Print;
  readonly isWaiting: boolean;
}

async function render(op: string, result: unknown, context: RenderContext): Promise<void> {
  const { print } = context;
  switch (op) {
    case 'targets':
      printTargets(result as TargetsResult, print);
      return;
    case 'register':
      for (const target of (result as RegisterResult).registered) {
        print(
          `registered ${target.address} in ${(result as RegisterResult).targetGroup} (weight ${target.weight}): ${target.state}`,
        );
      }
      return;
    case 'deregister':
      await followDrain(result as DeregisterResult, context);
      return;
    case 'set-weight': {
      const r = result as SetWeightResult;
      print(
        `${r.targetGroup} ${r.address}: weight ${r.previous} -> ${r.weight.configured} (effective ${r.weight.effective})`,
      );
      return;
    }
    case 'set-attributes': {
      const r = result as SetAttributesResult;
      for (const change of r.changed) {
        print(`${r.targetGroup}: ${change.key} ${show(change.from)} -> ${show(change.to)}`);
      }
      return;
    }
    case 'failover':
    case 'failback': {
      const r = result as SwitchResult;
      print(
        r.isChanged
          ? `${r.targetGroup}: ${op} ${r.from} -> ${r.to}; observed by ${r.workerCount} worker${r.workerCount === 1 ? '' : 's'} in ${(r.observedUs / 1000).toFixed(2)} ms (generation ${r.generation})`
          : `${r.targetGroup}: already routes to ${r.to}; nothing changed`,
      );
      return;
    }
    case 'failover-status':
      printFailoverStatus(result as FailoverStatusResult, print);
      return;
    case 'drain': {
      const r = result as DrainResult;
      if (r.isCancelled) {
        print(`drain cancelled by undrain after ${formatMs(r.durationMs)}: Ferry serves and is ready again`);
        return;
      }
      print(
        `drained in ${formatMs(r.durationMs)}: ${r.connectionsAtStart} connections and ${r.inFlightAtStart} requests in flight at the start; ` +
          (r.isComplete
            ? 'every request finished'
            : `grace period over with ${r.inFlightAtEnd} still in flight (cut off)`),
      );
      print('Ferry now takes no new connections; stop it with SIGTERM when ready.');
      return;
    }
    case 'reload':
      printReload(result as ReloadResult, print);
      return;
    case 'undrain':
      print(
        (result as UndrainResult).outcome === 'undrained'
          ? 'undrained: Ferry serves and /readyz answers 200 again'
          : 'not draining: nothing to undo',
      );
      return;
    case 'stats':
      printStats(result as StatsResult, print);
      return;
    case 'explain':
      for (const line of explainLines(result as ExplainResult)) print(line);
      return;
    default:
      print(JSON.stringify(result, null, 2));
  }
}

function show(value: unknown): string {
  return value === null || value === undefined ? '(default)' : JSON.stringify(value);
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Columns padded to their widest cell. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function printTargets(result: TargetsResult, print: Print): void {
  if (result.targetGroups.length === 0) print('no target groups');
  for (const group of result.targetGroups) {
    const route = group.routeTo === group.name ? '' : `, failed over: traffic goes to ${group.routeTo}`;
    print(`target group ${group.name} (${group.algorithm}${route})`);
    if (group.discovery !== undefined && group.discovery !== null)
      print(discoveryLine(group.discovery, result.atMs));
    if (group.zones !== undefined && group.zones !== null) {
      print(
        `  zones: ${group.zones.crossZoneTotal} requests sent cross-zone (no local target), ${group.zones.spillTotal} spilled over`,
      );
    }
    if (group.targets.length === 0) {
      print('  no targets');
      continue;
    }
    // ZONE and SOURCE appear only when some target has a zone or did not come from the config file.
    const hasZone = group.targets.some((target) => (target.zone ?? null) !== null);
    const hasSource = group.targets.some((target) => (target.source ?? 'config') !== 'config');
    const rows = group.targets.map((target) => [
      `  ${target.address}`,
      target.state + (target.isEjected ? ' (ejected)' : ''),
      target.reason ?? '-',
      String(target.activeConnections),
      String(target.inFlight),
      target.latencyEwmaUs === null ? '-' : `${(target.latencyEwmaUs / 1000).toFixed(1)}ms`,
      target.weight.configured === target.weight.effective
        ? String(target.weight.configured)
        : `${target.weight.effective}/${target.weight.configured}`,
      ...(hasZone ? [target.zone ?? '-'] : []),
      ...(hasSource ? [sourceText(target.source ?? 'config', target.discoveredBy ?? null)] : []),
      target.description ?? '',
    ]);
    const header = [
      '  TARGET',
      'STATE',
      'REASON',
      'CONNS',
      'IN-FLIGHT',
      'LATENCY',
      'WEIGHT',
      ...(hasZone ? ['ZONE'] : []),
      ...(hasSource ? ['SOURCE'] : []),
      'DESCRIPTION',
    ];
    for (const line of table(header, rows)) print(line);
  }
}

function sourceText(source: string, discoveredBy: string | null): string {
  return source === 'dns' && discoveredBy !== null ? `dns:${discoveredBy}` : source;
}

/** One line on a group's DNS discovery: name, state (STALE loudly), last answer, TTL, next try, last error. */
function discoveryLine(d: DiscoveryStatus, atMs: number): string {
  const servers = d.servers === null ? 'system resolver' : d.servers.join(', ');
  const ago = (ms: number | null) => (ms === null ? 'never' : `${formatMs(Math.max(0, atMs - ms))} ago`);
  const parts = [
    `  discovery: dns ${d.type} ${d.name} via ${servers}:`,
    d.state === 'stale'
      ? `STALE (${d.consecutiveFailures} failed; last good answer ${ago(d.lastSuccessMs)}, its ${d.targetCount} targets kept)`
      : d.state,
    `resolved ${ago(d.lastResolutionMs)}`,
    `TTL ${d.ttlS === null ? '-' : `${d.ttlS} s`}`,
    `${d.targetCount} targets${d.backupCount > 0 ? ` (+${d.backupCount} SRV backup records)` : ''}`,
    d.nextRefreshMs === null ? '' : `next in ${formatMs(Math.max(0, d.nextRefreshMs - atMs))}`,
    d.lastError === null ? '' : `last error ${d.lastError.code}: ${d.lastError.message}`,
  ];
  return parts
    .filter((part) => part !== '')
    .join(', ')
    .replace(':, ', ': ');
}

/** After deregister: follow each target's drain with `targets` until it is gone (unless --no-wait). */
async function followDrain(result: DeregisterResult, context: RenderContext): Promise<void> {
  const { print, client } = context;
  const startedMs = Date.now();
  for (const target of result.draining) {
    print(
      `draining ${target.address} from ${result.targetGroup}: ${target.inFlight} in flight, deadline in ${formatMs(Math.max(0, target.deadlineMs - startedMs))}`,
    );
  }
  if (!context.isWaiting) return;
  const left = new Map(result.draining.map((target) => [target.address, target.inFlight]));
  while (left.size > 0) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    const now = await client.request('targets', { targetGroup: result.targetGroup });
    const rows = new Map((now.targetGroups[0]?.targets ?? []).map((row) => [row.address, row]));
    for (const [address, lastInFlight] of [...left]) {
      const row = rows.get(address);
      if (row === undefined || row.state !== 'draining') {
        left.delete(address);
        print(`deregistered ${address} (drained in ${formatMs(Date.now() - startedMs)})`);
      } else if (row.inFlight !== lastInFlight) {
        left.set(address, row.inFlight);
        print(`  ${address}: ${row.inFlight} in flight`);
      }
    }
  }
}

function printFailoverStatus(result: FailoverStatusResult, print: Print): void {
  if (result.groups.length === 0) {
    print('no target group has a failover standby');
  } else {
    const rows = result.groups.map((group) => [
      group.targetGroup,
      group.standby ?? '-',
      group.routeTo,
      group.mode,
      new Date(group.sinceMs).toISOString(),
      group.isPrimaryRoutable ? 'routable' : 'none routable',
      group.isStandbyRoutable === null ? '-' : group.isStandbyRoutable ? 'routable' : 'none routable',
      String(group.switchesTotal),
      group.lastSwitch === null
        ? '-'
        : `${group.lastSwitch.from} -> ${group.lastSwitch.to} (${group.lastSwitch.trigger}, ${(group.lastSwitch.observedUs / 1000).toFixed(2)} ms)`,
    ]);
    for (const line of table(
      [
        'TARGET GROUP',
        'STANDBY',
        'ROUTES TO',
        'MODE',
        'SINCE',
        'PRIMARY',
        'STANDBY TARGETS',
        'SWITCHES',
        'LAST SWITCH',
      ],
      rows,
    )) {
      print(line);
    }
  }
  print(
    `switches: ${result.switchesTotal} (automatic failovers ${result.autoFailoversTotal}, automatic failbacks ${result.autoFailbacksTotal})`,
  );
}

function printReload(result: ReloadResult, print: Print): void {
  const d = result.diff;
  if (!result.isChanged) {
    print(`reloaded ${result.source}: no changes`);
    return;
  }
  print(`reloaded ${result.source}`);
  const lines = [
    ...d.targetGroupsAdded.map((name) => `  + target group ${name}`),
    ...d.targetGroupsRemoved.map((name) => `  - target group ${name} (its targets drain)`),
    ...d.targetGroupsChanged.map((name) => `  ~ target group ${name}: attributes changed`),
    ...d.targetsAdded.map((t) => `  + target ${t.address} in ${t.targetGroup}`),
    ...d.targetsRemoved.map((t) => `  - target ${t.address} in ${t.targetGroup} (draining)`),
    ...d.weightsChanged.map(
      (t) => `  ~ target ${t.address} in ${t.targetGroup}: weight ${t.from} -> ${t.to}`,
    ),
  ];
  for (const line of lines.length === 0 ? ['  listeners or other settings changed'] : lines) print(line);
}

function printStats(result: StatsResult, print: Print): void {
  print(
    `config ${result.config}, up ${formatDurationMs(Math.max(0, Math.floor(result.uptimeMs / 1000)) * 1000)}, generation ${result.generation}, worker restarts ${result.workerRestartsTotal}`,
  );
  for (const line of table(
    ['WORKER', 'LIVE', 'CONNECTIONS', 'REQUESTS', 'OBSERVED GENERATION'],
    result.workers.map((w) => [
      String(w.index),
      w.isLive ? 'yes' : 'no',
      String(w.activeConnections),
      String(w.requestsTotal),
      String(w.observedGeneration),
    ]),
  )) {
    print(line);
  }
  for (const line of table(
    ['TARGET GROUP', 'ROUTES TO', 'FAIL-OPEN REQUESTS', 'NO-TARGET REQUESTS'],
    result.targetGroups.map((g) => [
      g.name,
      g.routeTo,
      String(g.failOpenRequestsTotal),
      String(g.noTargetRequestsTotal),
    ]),
  )) {
    print(line);
  }
  for (const line of table(
    ['TARGET GROUP', 'TARGET', 'REQUESTS', 'FAILURES', 'IN-FLIGHT', 'CONNECTIONS'],
    result.targets.map((t) => [
      t.targetGroup,
      t.address,
      String(t.requestsTotal),
      String(t.failuresTotal),
      String(t.inFlight),
      String(t.activeConnections),
    ]),
  )) {
    print(line);
  }
  const f = result.failover;
  print(
    `failover: ${f.switchesTotal} switches (automatic failovers ${f.autoFailoversTotal}, failbacks ${f.autoFailbacksTotal})`,
  );
  const c = result.control;
  print(
    `control port: ${c.connectionsOpen} open, ${c.connectionsTotal} connections, ${c.requestsTotal} requests, ` +
      `${c.authFailuresTotal} refused logins, ${c.frameErrorsTotal} bad frames, ${c.connectionsRefusedTotal} refused (too many)`,
  );
}

/** Seconds from `atMs` to `ms`, signed, for "in 12.0 s" / "3.2 s ago". */
function relative(ms: number, atMs: number): string {
  const deltaS = (ms - atMs) / 1000;
  const text = Math.abs(deltaS) < 10 ? Math.abs(deltaS).toFixed(1) : String(Math.round(Math.abs(deltaS)));
  return deltaS >= 0 ? `in ${text} s` : `${text} s ago`;
}

/** `explain`: one screen, the verdict first and the evidence after. */
function explainLines(r: ExplainResult): string[] {
  const at = r.atMs;
  const lines: string[] = [];
  lines.push(
    `${r.targetGroup} ${r.address} (${r.algorithm || 'no algorithm'}): ${r.isInRotation ? 'IN ROTATION' : 'OUT OF ROTATION'}`,
  );
  lines.push(`  ${r.summary}`);
  lines.push(`  because: ${r.because.join(', ') || '-'}`);
  lines.push(
    `  state ${r.state}${r.reason === null ? '' : ` (${r.reason}: ${r.description ?? ''})`} since ${relative(r.stateSinceMs, at)}`,
  );
  const hc = r.healthCheck;
  lines.push(
    hc.enabled
      ? `  health check: ${hc.protocol} ${hc.port === 'traffic-port' ? 'traffic port' : `port ${hc.port}`}${hc.protocol.startsWith('HTTP') ? ` ${hc.path} expecting ${hc.matcher}` : ''}, every ${formatMs(hc.intervalMs)}, timeout ${formatMs(hc.timeoutMs)}, healthy after ${hc.healthyThreshold}, unhealthy after ${hc.unhealthyThreshold}`
      : '  health check: off',
  );
  if (hc.enabled) {
    const o = hc.outcomesTotal;
    lines.push(
      `  streak: ${hc.consecutiveSuccesses} passed, ${hc.consecutiveFailures} failed in a row; totals pass ${o.pass}, status ${o.status}, timeout ${o.timeout}, error ${o.error}`,
    );
  }
  if (r.recentChecks.length > 0) {
    lines.push('  recent checks (newest first):');
    for (const line of table(
      ['    WHEN', 'RESULT', 'LATENCY', 'STATUS', 'DETAIL'],
      r.recentChecks.map((check) => [
        `    ${relative(check.atMs, at)}`,
        check.outcome,
        `${check.durationMs} ms`,
        check.statusCode === null ? '-' : String(check.statusCode),
        check.reason === null ? '' : `${check.reason}: ${check.description ?? ''}`,
      ]),
    )) {
      lines.push(line);
    }
  }
  const ol = r.outlier;
  lines.push(
    ol.isEjected
      ? `  outlier: EJECTED until ${new Date(ol.ejectedUntilMs ?? at).toISOString()} (${relative(ol.ejectedUntilMs ?? at, at)}), multiplier ${ol.multiplier}, ${ol.ejectionsTotal} ejections in all`
      : `  outlier: not ejected; multiplier ${ol.multiplier}, ${ol.ejectionsTotal} ejections in all; now ${ol.consecutive5xx} consecutive 5xx, ${ol.consecutiveGatewayFailures} gateway failures`,
  );
  for (const ejection of ol.ejections) {
    lines.push(
      `    ejected ${relative(ejection.atMs, at)}: ${ejection.count} ${ejection.trigger}, for ${formatMs(ejection.durationMs)} (backoff ×${ejection.multiplier})`,
    );
  }
  lines.push(
    `  weight ${r.weight.effective} of ${r.weight.configured}${r.slowStart === null ? '' : `; slow start at ${r.slowStart.percent}%, full ${relative(r.slowStart.untilMs, at)}`}`,
  );
  if (r.drain !== null) {
    lines.push(
      `  draining since ${relative(r.drain.sinceMs, at)}: ${r.drain.inFlight} in flight; released when idle, or ${relative(r.drain.deadlineMs, at)} at the latest`,
    );
  }
  lines.push(
    `  load: ${r.load.inFlight} in flight, ${r.load.activeConnections} connections, latency EWMA ${r.load.latencyEwmaUs === null ? '-' : `${(r.load.latencyEwmaUs / 1000).toFixed(1)} ms`}`,
  );
  if (r.failedOverTo !== null) lines.push(`  its group failed over: traffic goes to ${r.failedOverTo}`);
  lines.push(
    r.routes.length === 0
      ? '  routed from: nothing (no listener action reaches this group now)'
      : `  routed from: ${r.routes
          .map(
            (route) =>
              `${route.listener} ${route.rulePriority === null ? 'default action' : `rule ${route.rulePriority}`}${route.targetGroup === r.targetGroup ? '' : ` (via ${route.targetGroup})`}`,
          )
          .join(', ')}`,
  );
  if (r.traffic !== null) {
    lines.push(
      `  traffic, last ${formatMs(r.traffic.windowMs)}: ${r.traffic.requests} of ${r.traffic.groupRequests} requests to ${r.targetGroup}${r.traffic.sharePercent === null ? '' : ` (${r.traffic.sharePercent}%)`}`,
    );
  }
  if (r.transitions.length > 0) {
    lines.push(
      `  transitions: ${r.transitions
        .slice(0, 5)
        .map(
          (t) =>
            `${relative(t.atMs, at)} ${t.from ?? '-'} -> ${t.to}${t.reason === null ? '' : ` (${t.reason})`}`,
        )
        .join('; ')}`,
    );
  }
  return lines;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ferryctl: ${(error as Error).message}\n`);
    process.exitCode = EXIT_REFUSED;
  },
);
