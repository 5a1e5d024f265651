/**
 * @module src/config/reference
 *
 * Renders the config reference (docs/config-reference.md) from the schema:
 * every key with its type, default, allowed values and description, read
 * from `z.toJSONSchema(configSchema)` and the `.describe()`/`.meta()` text in
 * schema.ts. Thread: main, only at build time (`npm run docs:config`) and in
 * the test that keeps the file current. Place in the flow: none; this is
 * documentation that cannot drift from validation because both come from the
 * same schema.
 *
 * Run directly (`node src/config/reference.ts`) it prints the markdown.
 */
import { type core, z } from 'zod';
import { configSchema } from './schema.ts';

type JsonSchema = core.JSONSchema.BaseSchema & {
  readonly 'x-type'?: string;
  readonly 'x-allowed'?: string;
  readonly 'x-default'?: string;
  readonly 'x-internal'?: boolean;
};

/** The command that regenerates the file, as tests and the file itself tell people. */
export const CONFIG_REFERENCE_COMMAND = 'npm run docs:config';
/** Where the generated reference lives, relative to the repository root. */
export const CONFIG_REFERENCE_PATH = 'docs/config-reference.md';

const INTRO = `# Ferry configuration reference

<!-- Generated from src/config/schema.ts by \`${CONFIG_REFERENCE_COMMAND}\`. Do not edit by hand. -->

Ferry reads one YAML document (\`ferry --config ferry.yaml\`; check it with
\`ferry validate --config ferry.yaml\`). Names follow AWS Elastic Load Balancing:
listeners accept traffic and forward it to target groups of targets.

- **Durations** are strings with a unit: \`500ms\`, \`30s\`, \`5m\`, \`1h\`, \`1d\`, or
  several units largest first (\`1m30s\`). \`0\` needs no unit.
- **Addresses** are \`host:port\`: an IPv4 address (\`10.0.0.7:80\`), an IPv6 address in
  brackets (\`[::1]:8080\`) or a host name (\`api.internal:9000\`).
- **Unknown keys are errors**, so a typo never silently falls back to a default.
  Every error is reported at once, with its path (\`targetGroups[1].targets[0].address\`)
  and line.
- \`[]\` in a key means "each entry of the list".

`;

/**
 * The reference as markdown. Thread: any. Pure: the same schema always gives
 * the same text. Allocates the string.
 */
export function renderConfigReference(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: string[][] = [];
  collectRows(root, '', rows);
  return `${INTRO}${renderTable(['Key', 'Type', 'Default', 'Allowed', 'Description'], rows)}`;
}

/**
 * A markdown table with every column padded to its widest cell, which is how
 * biome formats markdown; unpadded output would fail `npm run lint`.
 */
function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escaped = rows.map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = header.map((title, column) =>
    Math.max(title.length, 3, ...escaped.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |\n`;
  return line(header) + line(widths.map((width) => '-'.repeat(width))) + escaped.map(line).join('');
}

function collectRows(node: JsonSchema, prefix: string, rows: string[][]): void {
  const required = new Set(node.required ?? []);
  for (const [key, value] of Object.entries(node.properties ?? {})) {
    const child = value as JsonSchema;
    const path = prefix.length === 0 ? key : `${prefix}.${key}`;
    const items = child.type === 'array' ? (child.items as JsonSchema | undefined) : undefined;
    rows.push(renderRow(path, child, required.has(key)));
    if (child.type === 'object') collectRows(child, path, rows);
    if (items?.type === 'object') collectRows(items, `${path}[]`, rows);
  }
}

function renderRow(path: string, node: JsonSchema, isRequired: boolean): string[] {
  const description = `${node['x-internal'] === true ? '_(internal)_ ' : ''}${node.description ?? ''}`;
  return [`\`${path}\``, typeOf(node), defaultOf(node, isRequired), allowedOf(node), description];
}

function typeOf(node: JsonSchema): string {
  if (node['x-type'] !== undefined) return node['x-type'];
  if (node.anyOf !== undefined) return node.anyOf.map((option) => typeOf(option as JsonSchema)).join(' or ');
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  if (node.enum !== undefined) return 'enum';
  if (node.type === 'object') return 'mapping';
  if (node.type === 'array') return 'list';
  return String(node.type ?? 'any');
}

function defaultOf(node: JsonSchema, isRequired: boolean): string {
  if (node['x-default'] !== undefined) return node['x-default'];
  if (node.default !== undefined) {
    const value = node.default;
    if (typeof value === 'string') return `\`${value}\``;
    return `\`${JSON.stringify(value)}\``;
  }
  return isRequired ? '**required**' : '—';
}

function allowedOf(node: JsonSchema): string {
  if (node['x-allowed'] !== undefined) return node['x-allowed'];
  if (node.enum !== undefined) return node.enum.map((value) => `\`${String(value)}\``).join(' | ');
  if (node.anyOf !== undefined) {
    return node.anyOf
      .map((option) => allowedOf(option as JsonSchema))
      .filter((text) => text.length > 0)
      .join(', ');
  }
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  if (node.minimum !== undefined && node.maximum !== undefined) return `${node.minimum}..${node.maximum}`;
  if (node.minItems !== undefined) return `at least ${node.minItems}`;
  return '';
}

if (import.meta.main) process.stdout.write(renderConfigReference());
