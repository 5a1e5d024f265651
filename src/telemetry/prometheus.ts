/**
 * @module src/telemetry/prometheus
 *
 * A writer for the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and `# TYPE` per family, then its samples. Thread: main. Place in
 * the flow: render-metrics.ts renders `/metrics` through it. It knows the
 * format, not Ferry's families.
 *
 * Label values are escaped as the format asks (backslash, double quote, line
 * feed); metric and label names are Ferry's own constants, checked once.
 */

/** Content-Type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A number as the format writes it: integers plainly, +Inf/-Inf/NaN by name. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return Number.isInteger(value) ? value.toFixed(0) : String(value);
}

function formatLabels(labels: Labels): string {
  let text = '';
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name)) throw new Error(`prometheus: bad label name ${name}`);
    text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  }
  return text === '' ? '' : `{${text}}`;
}

/** Accumulates families and renders them in the order they were begun. */
export class PrometheusWriter {
  private text: string;

  constructor() {
    this.text = '';
  }

  /** Start a family; its samples follow with `sample()` (counters' names end in `_total`). */
  family(name: string, type: MetricType, help: string): this {
    if (!METRIC_NAME.test(name)) throw new Error(`prometheus: bad metric name ${name}`);
    this.text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    this.text += `${name}${formatLabels(labels)} ${formatValue(value)}\n`;
    return this;
  }

  /**
   * A histogram's samples: cumulative `_bucket{le}` from per-bucket counts
   * (the last is +Inf), then `_sum` and `_count`. `boundsS` are the upper
   * bounds in the family's unit.
   */
  histogram(
    name: string,
    labels: Labels,
    boundsS: readonly number[],
    counts: ArrayLike<number>,
    sum: number,
  ): this {
    let cumulative = 0;
    for (let index = 0; index < counts.length; index++) {
      cumulative += counts[index]!;
      const le = index < boundsS.length ? formatValue(boundsS[index]!) : '+Inf';
      this.sample(`${name}_bucket`, { ...labels, le }, cumulative);
    }
    this.sample(`${name}_sum`, labels, sum);
    this.sample(`${name}_count`, labels, cumulative);
    return this;
  }

  toString(): string {
    return this.text;
  }
}
