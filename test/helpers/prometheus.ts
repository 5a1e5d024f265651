/**
 * A strict parser of the Prometheus text exposition format (0.0.4) for tests:
 * it throws on anything a scraper could misread, so a test that parses
 * `/metrics` also checks the format.
 *
 * Checked: every sample follows a `# HELP` and `# TYPE` of its family (a
 * histogram's `_bucket`/`_sum`/`_count` belong to it), names and label names
 * are valid, label values are properly quoted and escaped, values parse,
 * no series appears twice, counters end in `_total` and never go negative,
 * histogram buckets are cumulative and end in `le="+Inf"` equal to `_count`.
 */

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly type: PromType;
  readonly help: string;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/.test(text))
    throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq === -1) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const ch = text[j];
      if (ch === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (ch === '"') break;
      if (ch === '\\') {
        const next = text[j + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else throw new Error(`line ${line}: bad escape \\${next}`);
        j += 2;
        continue;
      }
      if (ch === '\n') throw new Error(`line ${line}: raw newline in label value`);
      value += ch;
      j++;
    }
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i !== text.length) throw new Error(`line ${line}: expected ',' between labels`);
  }
  return labels;
}

export function familyOf(families: Map<string, PromFamily>, sampleName: string): PromFamily | undefined {
  const direct = families.get(sampleName);
  if (direct !== undefined) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const family = families.get(sampleName.slice(0, -suffix.length));
      if (family !== undefined && (family.type === 'histogram' || family.type === 'summary')) return family;
    }
  }
  return undefined;
}

/** Parse (and validate) a whole exposition. Throws with the line number on the first problem. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  const seriesSeen = new Set<string>();
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === '') throw new Error(`line ${line}: empty line`);
    if (raw.startsWith('# HELP ')) {
      const rest = raw.slice(7);
      const space = rest.indexOf(' ');
      const name = space === -1 ? rest : rest.slice(0, space);
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (helps.has(name)) throw new Error(`line ${line}: second HELP for ${name}`);
      helps.set(name, space === -1 ? '' : rest.slice(space + 1));
      return;
    }
    if (raw.startsWith('# TYPE ')) {
      const [name, type, extra] = raw.slice(7).split(' ');
      if (name === undefined || !NAME.test(name)) throw new Error(`line ${line}: bad metric name`);
      if (extra !== undefined) throw new Error(`line ${line}: trailing text after TYPE`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? ''))
        throw new Error(`line ${line}: bad type ${type}`);
      if (families.has(name)) throw new Error(`line ${line}: second TYPE for ${name}`);
      if (!helps.has(name)) throw new Error(`line ${line}: TYPE for ${name} without HELP before it`);
      if (type === 'counter' && !name.endsWith('_total'))
        throw new Error(`line ${line}: counter ${name} must end in _total`);
      families.set(name, { name, type: type as PromType, help: helps.get(name)!, samples: [] });
      return;
    }
    if (raw.startsWith('#')) return; // a comment
    const brace = raw.indexOf('{');
    const firstSpace = raw.indexOf(' ');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace !== -1 && (firstSpace === -1 || brace < firstSpace)) {
      name = raw.slice(0, brace);
      const close = raw.lastIndexOf('}');
      if (close < brace) throw new Error(`line ${line}: unclosed label set`);
      labels = parseLabels(raw.slice(brace + 1, close), line);
      rest = raw.slice(close + 1);
      if (!rest.startsWith(' ')) throw new Error(`line ${line}: expected a space before the value`);
      rest = rest.slice(1);
    } else {
      name = raw.slice(0, firstSpace);
      rest = raw.slice(firstSpace + 1);
    }
    if (!NAME.test(name)) throw new Error(`line ${line}: bad sample name ${JSON.stringify(name)}`);
    const parts = rest.split(' ');
    if (parts.length > 2) throw new Error(`line ${line}: too many fields`);
    const value = parseValue(parts[0]!, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    const family = familyOf(families, name);
    if (family === undefined) throw new Error(`line ${line}: sample ${name} has no TYPE before it`);
    if (family.type === 'counter' && !(value >= 0))
      throw new Error(`line ${line}: counter ${name} is ${value}`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(series)) throw new Error(`line ${line}: series ${series} twice`);
    seriesSeen.add(series);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      group.buckets.push([le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), sample.value]);
    } else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else throw new Error(`${family.name}: unexpected sample ${sample.name}`);
  }
  for (const [key, group] of groups) {
    const last = group.buckets.at(-1);
    if (last === undefined || last[0] !== Number.POSITIVE_INFINITY)
      throw new Error(`${family.name}${key}: no +Inf bucket`);
    for (let i = 1; i < group.buckets.length; i++) {
      if (group.buckets[i]![0] <= group.buckets[i - 1]![0])
        throw new Error(`${family.name}${key}: le not increasing`);
      if (group.buckets[i]![1] < group.buckets[i - 1]![1])
        throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    if (group.count !== last[1])
      throw new Error(`${family.name}${key}: _count ${group.count} != +Inf bucket ${last[1]}`);
    if (group.sum === undefined) throw new Error(`${family.name}${key}: no _sum`);
  }
}

/** The value of one series (labels must match exactly the given subset; exactly one series may match). */
export function metricValue(
  families: Map<string, PromFamily>,
  sampleName: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const family = familyOf(families, sampleName);
  if (family === undefined) throw new Error(`no family for ${sampleName}`);
  const matches = family.samples.filter(
    (sample) =>
      sample.name === sampleName &&
      Object.entries(labels).every(([name, value]) => sample.labels[name] === value),
  );
  if (matches.length !== 1)
    throw new Error(`${sampleName}${JSON.stringify(labels)}: ${matches.length} series match, expected 1`);
  return matches[0]!.value;
}
