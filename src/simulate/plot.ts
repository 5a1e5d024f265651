/**
 * @module src/simulate/plot
 *
 * The latency CDF of every simulated algorithm as one self-contained SVG
 * (no script, no fonts to fetch): x = latency in ms on a log scale, y = share
 * of requests at or below it, one coloured line per algorithm, a legend with
 * each one's p50/p99. Thread: the CLI's main thread. Written next to the text
 * report, because a person compares curves faster than a table.
 */
import type { SimAlgorithmResult } from '../../proto/simulate.ts';

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { left: 60, right: 20, top: 30, bottom: 50 } as const;
/** Distinguishable colours (Okabe–Ito, colour-blind safe). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG text of the latency CDFs. */
export function latencyCdfSvg(results: readonly SimAlgorithmResult[], title: string): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = results.flatMap((r) => r.cdfMs).filter((ms) => ms > 0);
  const minMs = Math.max(1e-3, Math.min(...all, 1));
  const maxMs = Math.max(...all, minMs * 10);
  const lo = Math.floor(Math.log10(minMs));
  const hi = Math.ceil(Math.log10(maxMs));
  const x = (ms: number) => MARGIN.left + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * plotW;
  const y = (share: number) => MARGIN.top + (1 - share) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>Latency CDF per algorithm: ${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let decade = lo; decade <= hi; decade++) {
    const px = x(10 ** decade).toFixed(1);
    parts.push(
      `<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`,
      `<text x="${px}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${10 ** decade >= 1 ? 10 ** decade : (10 ** decade).toFixed(-decade)}</text>`,
    );
  }
  for (const share of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
    const py = y(share).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" y1="${py}" x2="${MARGIN.left + plotW}" y2="${py}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${Math.round(share * 100)}%</text>`,
    );
  }
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">latency (ms, log scale)</text>`,
    `<text x="14" y="${MARGIN.top + plotH / 2}" transform="rotate(-90 14 ${MARGIN.top + plotH / 2})" text-anchor="middle">requests at or below</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  results.forEach((result, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const points = result.cdfMs.map((ms, p) => `${x(ms).toFixed(1)},${y(p / 100).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"><title>${escapeXml(result.algorithm)}</title></polyline>`,
    );
    const ly = MARGIN.top + plotH - 12 - (results.length - 1 - i) * 16;
    parts.push(
      `<line x1="${MARGIN.left + plotW - 250}" y1="${ly}" x2="${MARGIN.left + plotW - 230}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${MARGIN.left + plotW - 224}" y="${ly}" dominant-baseline="middle">${escapeXml(result.algorithm)}  p50 ${result.p50Ms} · p99 ${result.p99Ms} ms</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
