/**
 * @module src/telemetry/status-page
 *
 * `GET /`: the live status page, one self-contained HTML document (inline
 * CSS and script, SVG charts drawn by hand, no web fonts, no CDN) that polls
 * `/status.json` every STATUS_PAGE_POLL_MS and redraws. Thread: main (it only
 * serves the text). Place in the flow: admin -> **page** -> the browser ->
 * `/status.json` (status.ts).
 *
 * It works offline and behind a strict proxy, and the page's
 * Content-Security-Policy allows exactly its own inline script (by hash) and
 * same-origin fetches, so nothing else can run or load. The DOM carries
 * `data-target` / `data-state` attributes for tests and scripts.
 */
import { createHash } from 'node:crypto';
import { HISTORY_POINTS } from './history.ts';

/** How often the page fetches /status.json. */
export const STATUS_PAGE_POLL_MS = 1_000;

const STYLE = `
:root { color-scheme: light dark; --bg:#f6f7f9; --card:#fff; --ink:#1b1f24; --mute:#667085; --line:#e4e7ec;
  --ok:#12a150; --bad:#d92d20; --warn:#dc6803; --idle:#98a2b3; --accent:#2e6be6; }
@media (prefers-color-scheme: dark) { :root { --bg:#0f1217; --card:#171b22; --ink:#e6e8eb; --mute:#98a2b3;
  --line:#283040; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; gap:16px; align-items:baseline; padding:14px 24px; border-bottom:1px solid var(--line);
  background:var(--card); position:sticky; top:0; }
header h1 { font-size:18px; margin:0; }
header .meta { color:var(--mute); }
main { padding:16px 24px 40px; display:grid; gap:16px; max-width:1400px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
h2 { font-size:15px; margin:0 0 8px; display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 8px; border-top:1px solid var(--line); white-space:nowrap; }
th { color:var(--mute); font-weight:500; border-top:none; font-size:12px; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; background:var(--idle); }
.s-healthy, .s-unavailable, .ok { background:var(--ok); }
.s-unhealthy, .bad { background:var(--bad); }
.s-draining, .s-initial, .warn { background:var(--warn); }
.s-unused, .s-empty { background:var(--idle); }
.reason { color:var(--mute); font-size:12px; }
.chart { display:block; }
.chart polyline { fill:none; stroke:var(--accent); stroke-width:1.5; }
.chart .area { fill:var(--accent); opacity:.12; stroke:none; }
.chart .axis { fill:none; stroke:var(--mute); stroke-width:1; }
.chart text { fill:var(--mute); font-size:10px; font-family:inherit; }
.charts { display:flex; gap:24px; flex-wrap:wrap; margin:6px 0 4px; }
.charts figure { margin:0; }
.charts figcaption { color:var(--mute); font-size:12px; }
.muted { color:var(--mute); }
#banner { display:none; padding:8px 24px; background:var(--bad); color:#fff; }
ul.events { margin:0; padding-left:18px; }
`;

const SCRIPT = `
'use strict';
const POLL_MS = ${STATUS_PAGE_POLL_MS};
const HISTORY_POINTS = ${HISTORY_POINTS};
const CHART_POINTS_MIN = 12;
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') node.className = v; else node.setAttribute(k, String(v));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
const SVG = 'http://www.w3.org/2000/svg';
// A chart of one per-second series, right-aligned: the time axis spans the history kept so far (at
// least CHART_POINTS_MIN seconds, at most HISTORY_POINTS), so a young history is not squeezed into
// the last pixels. With axes, a y axis from 0 to the peak in unit and an x axis in seconds
// before now; without, a sparkline for a table cell (its unit is in the column header).
function chart(values, width, height, unit, axes) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  svg.setAttribute('data-unit', unit);
  const points = values.length > 1 ? values : [0, 0];
  const max = Math.max(1e-9, ...points);
  const spanS = Math.min(HISTORY_POINTS, Math.max(CHART_POINTS_MIN, points.length)) - 1;
  const left = axes ? 48 : 0, bottom = axes ? 16 : 0, top = axes ? 6 : 0;
  const plotW = width - left, plotH = height - bottom - top;
  const step = plotW / spanS;
  const x0 = width - (points.length - 1) * step;
  const y = (v) => (top + plotH - 1 - (v / max) * (plotH - 3)).toFixed(1);
  const coords = points.map((v, i) => (x0 + i * step).toFixed(1) + ',' + y(v));
  const base = top + plotH;
  const area = document.createElementNS(SVG, 'polygon');
  area.setAttribute('class', 'area');
  area.setAttribute('points', x0.toFixed(1) + ',' + base + ' ' + coords.join(' ') + ' ' + width + ',' + base);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', coords.join(' '));
  svg.append(area, line);
  if (axes) {
    const path = (d) => { const p = document.createElementNS(SVG, 'path'); p.setAttribute('class', 'axis'); p.setAttribute('d', d); return p; };
    const text = (x, yy, anchor, content, role) => {
      const t = document.createElementNS(SVG, 'text');
      t.setAttribute('x', x); t.setAttribute('y', yy); t.setAttribute('text-anchor', anchor);
      if (role) t.setAttribute('data-axis', role);
      t.textContent = content;
      return t;
    };
    const peak = values.length > 1 ? Math.max(...values) : 0;
    svg.append(
      path('M' + left + ' ' + top + ' V' + base + ' H' + width),
      path('M' + (left - 3) + ' ' + y(max) + ' H' + left),
      text(left - 5, Number(y(max)) + 4, 'end', fmt(peak > 0 ? max : 0) + ' ' + unit, 'y-max'),
      text(left - 5, base, 'end', '0', 'y-min'),
      text(left + 2, height - 3, 'start', '−' + spanS + ' s', 'x-min'),
      text(width, height - 3, 'end', 'now', 'x-max'),
    );
  }
  const title = document.createElementNS(SVG, 'title');
  title.textContent = 'last ' + values.length + ' s, peak ' + fmt(max) + ' ' + unit;
  svg.append(title);
  return svg;
}
function figure(caption, svg) { return el('figure', {}, el('figcaption', {}, caption), svg); }
// The group's mean response time per second: its targets' means weighted by their answers (rates).
function groupLatency(g) {
  const length = Math.max(0, ...g.targets.map((t) => (t.history.latencyMs || []).length));
  const out = [];
  for (let i = 0; i < length; i++) {
    let sum = 0, weight = 0;
    for (const t of g.targets) {
      const lat = t.history.latencyMs || [], rate = t.history.requestRate || [];
      const j = i - (length - lat.length);
      if (j < 0 || !(lat[j] > 0)) continue;
      const w = rate[j] > 0 ? rate[j] : 1;
      sum += lat[j] * w; weight += w;
    }
    out.push(weight > 0 ? sum / weight : 0);
  }
  return out;
}
function fmt(n, digits) {
  if (n === null || n === undefined) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits === undefined ? 1 : digits);
}
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
// The admin route GET /targets/{group}/{target}/explain (src/admin): the same document as ferryctl explain.
function explainHref(group, address) {
  return '/targets/' + encodeURIComponent(group) + '/' + encodeURIComponent(address) + '/explain';
}
function badge(text, cls) { return el('span', { class: 'badge ' + cls }, text); }
function row(cells) { return el('tr', {}, ...cells); }
function num(value) { return el('td', { class: 'num' }, value); }

function renderListeners(doc) {
  const table = el('table', {},
    el('tr', {}, el('th', {}, 'listener'), el('th', {}, 'address'), el('th', {}, 'forwards to'),
      el('th', { class: 'num' }, 'connections'), el('th', { class: 'num' }, 'req/s'), el('th', {}, 'req/s, last minutes'),
      el('th', { class: 'num' }, 'requests'), el('th', { class: 'num' }, 'Ferry 4xx / 5xx'),
      el('th', { class: 'num' }, 'in / out')));
  for (const l of doc.listeners) {
    table.append(row([
      el('td', {}, el('strong', {}, l.name), ' ', el('span', { class: 'muted' }, l.protocol)),
      el('td', {}, l.address), el('td', {}, l.targetGroup),
      num(l.activeConnections), num(fmt(l.requestRate)), el('td', {}, chart(l.history.requestRate, 160, 24, 'req/s', false)),
      num(fmt(l.requestsTotal)),
      num((l.generatedResponses ? l.generatedResponses['4xx'] : 0) + ' / ' + (l.generatedResponses ? l.generatedResponses['5xx'] : 0)),
      num(bytes(l.bytesInTotal || 0) + ' / ' + bytes(l.bytesOutTotal || 0)),
    ]));
  }
  return el('section', { id: 'listeners' }, el('h2', {}, 'Listeners'), table);
}

// "—" with the reason when a latency would mislead (out of rotation, ejected, nothing answered).
function latencyCell(t) {
  if (t.latencyMs === null && t.latencyEwmaMs === null) {
    return el('td', { class: 'num', 'data-role': 'latency', title: t.latencyGap || '' }, '—',
      el('div', { class: 'reason' }, t.latencyGap || ''));
  }
  return el('td', { class: 'num', 'data-role': 'latency', title: t.latencyGap || '' },
    (t.latencyMs === null ? '—' : fmt(t.latencyMs, 2)) + ' · ' + (t.latencyEwmaMs === null ? '—' : fmt(t.latencyEwmaMs, 2)));
}

function renderGroup(g) {
  const title = el('h2', {}, 'Target group ' + g.name, el('span', { class: 'muted' }, g.algorithm || ''),
    badge(g.healthyCount + ' healthy', g.healthyCount > 0 ? 'ok' : 'bad'));
  if (g.unhealthyCount > 0) title.append(badge(g.unhealthyCount + ' unhealthy', 'bad'));
  if (g.failOpen.active) title.append(badge('failing open: routing to all targets', 'warn'));
  if (g.failover.active) title.append(badge('failed over to ' + (g.failover.routeTo || '?'), 'warn'));
  if (!g.inUse) title.append(badge('not in use', 's-unused'));
  const summary = el('div', { class: 'muted' }, fmt(g.requestRate) + ' req/s now · ',
    'fail-open ' + (g.failOpen.enabled ? 'on' : 'off') + ' (' + fmt(g.failOpen.requestsTotal) + ' requests) · ',
    fmt(g.noTargetRequestsTotal) + ' answered 503 with no target');
  const table = el('table', {},
    el('tr', {}, el('th', {}, 'target'), el('th', {}, 'state'), el('th', { class: 'num' }, 'weight'),
      el('th', { class: 'num' }, 'in flight'), el('th', { class: 'num' }, 'connections'),
      el('th', { class: 'num', title: "mean over the last second's answers · the balancer's EWMA" }, 'latency ms (avg · ewma)'),
      el('th', { class: 'num' }, 'req/s'),
      el('th', {}, 'req/s, last minutes'), el('th', { class: 'num' }, '2xx · 4xx · 5xx'),
      el('th', { class: 'num' }, 'conn. errors')));
  // Targets grouped by zone, Ferry's own zone first, with a header row per zone (only when targets carry zones).
  const hasZones = g.targets.some((t) => t.zone);
  const targets = hasZones
    ? [...g.targets].sort((a, b) => (b.isLocalZone - a.isLocalZone) || String(a.zone || '~').localeCompare(String(b.zone || '~')))
    : g.targets;
  let zoneShown;
  for (const t of targets) {
    if (hasZones && t.zone !== zoneShown) {
      zoneShown = t.zone;
      const inZone = targets.filter((o) => o.zone === t.zone);
      const up = inZone.filter((o) => (o.state === 'healthy' || o.state === 'unavailable') && !o.ejected).length;
      table.append(el('tr', { class: 'zone', 'data-zone': t.zone || '' }, el('td', { colspan: '10' },
        el('strong', {}, 'zone ' + (t.zone || 'none')), t.isLocalZone ? ' (local)' : '',
        el('span', { class: 'muted' }, ' · ' + up + ' of ' + inZone.length + ' routable'))));
    }
    const state = el('td', { 'data-role': 'state' }, badge(t.state + (t.ejected ? ' (ejected)' : ''), 's-' + t.state));
    if (t.reason) state.append(' ', el('span', { class: 'reason', title: t.description || '' }, t.reason));
    const r = t.responses;
    const where = t.source === 'dns' ? 'dns: ' + t.discoveredBy : t.source === 'control' ? 'control port' : '';
    table.append(el('tr', { 'data-target': g.name + '/' + t.address, 'data-state': t.state },
      el('td', {}, el('a', { href: explainHref(g.name, t.address), title: 'why is this target in or out of rotation?', 'data-role': 'explain' }, t.address), where ? el('div', { class: 'muted', 'data-role': 'source' }, where) : ''), state, num(t.weight), num(t.inFlight), num(t.activeConnections),
      latencyCell(t), num(fmt(t.requestRate)),
      el('td', {}, chart(t.history.requestRate, 160, 24, 'req/s', false)),
      num(fmt(r['2xx']) + ' · ' + fmt(r['4xx']) + ' · ' + fmt(r['5xx'])), num(fmt(t.connectionErrorsTotal))));
  }
  const extra = [];
  if (g.discovery) {
    const d = g.discovery;
    const line = el('div', { 'data-role': 'discovery' }, 'DNS ' + d.type + ' ' + d.name + ' ',
      badge(d.state === 'stale' ? 'stale: keeping ' + d.targetCount + ' targets' : d.state, d.state === 'stale' ? 'bad' : d.state === 'ok' ? 'ok' : 'warn'),
      el('span', { class: 'muted' }, ' last resolved ' + (d.lastResolutionMs ? new Date(d.lastResolutionMs).toLocaleTimeString() : 'never') +
        ' · last good ' + (d.lastSuccessMs ? new Date(d.lastSuccessMs).toLocaleTimeString() : 'never') +
        ' · TTL ' + (d.ttlS === null ? '-' : d.ttlS + ' s') + ' · ' + d.resolutionsTotal + ' resolutions, ' +
        d.failuresTotal + ' failed, ' + d.changesTotal + ' changes' +
        (d.lastError ? ' · last error ' + d.lastError.code + ': ' + d.lastError.message : '')));
    if (d.state === 'stale') title.append(badge('DNS stale', 'bad'));
    extra.push(line);
  }
  if (g.zones) {
    extra.push(el('div', { class: 'muted', 'data-role': 'zones' }, (g.zones.mode === 'spill' ? 'zone-aware' : 'cross-zone off') +
      ' (local zone ' + g.zones.localZone + ') · ' + fmt(g.zones.spillTotal) + ' spilled · ' + fmt(g.zones.crossZoneTotal) + ' sent cross-zone'));
  }
  const charts = el('div', { class: 'charts' },
    figure('requests per second', chart(g.history.requestRate, 520, 110, 'req/s', true)),
    el('figure', { 'data-chart': 'latency' }, el('figcaption', {}, 'response time, mean of the answers (ms)'),
      chart(groupLatency(g), 520, 110, 'ms', true)));
  charts.firstChild.setAttribute('data-chart', 'requests');
  return el('section', { class: 'group', 'data-group': g.name }, title, summary, ...extra, charts, table);
}

function eventText(e) {
  const where = e.targetGroup + (e.target ? '/' + e.target : '');
  const why = e.reason ? ' (' + e.reason + ')' : '';
  if (e.kind === 'failover') return [where, ' failed over to ' + e.to + why];
  if (e.kind === 'failback') return [where, ' failed back from ' + e.from + why];
  if (e.kind === 'deregistered') return [where, ' deregistered' + why];
  return [where, ' ' + (e.from || 'new') + ' → ' + e.to + why];
}
// Health transitions, deregistrations and failovers, newest first (status.json timeline).
function renderTransitions(doc) {
  const list = el('ul', { class: 'events' });
  const events = doc.timeline || doc.transitions.map((t) => Object.assign({ kind: 'health' }, t));
  for (const e of events.slice(0, 20)) {
    const [where, what] = eventText(e);
    list.append(el('li', { 'data-kind': e.kind }, new Date(e.at).toLocaleTimeString() + ' ', el('strong', {}, where), what));
  }
  if (events.length === 0) list.append(el('li', { class: 'muted' }, 'none yet'));
  return el('section', { id: 'transitions' }, el('h2', {}, 'Recent events: health, deregistration, failover'), list);
}

function render(doc) {
  $('ready').replaceChildren(badge(doc.ready ? 'ready' : 'not ready', doc.ready ? 'ok' : 'bad'));
  $('meta').textContent = 'v' + doc.version + ' · workers ' + doc.workers.ready + '/' + doc.workers.configured +
    ' · restarts ' + doc.workers.restarts + ' · tracing ' + (doc.tracing.enabled ? 'on' : 'off') +
    ' · access log ' + (doc.accessLog.enabled ? 'on' : 'off') + ' · updated ' + new Date(doc.at).toLocaleTimeString() +
    (doc.identity ? ' · identity ' + doc.identity.spiffeId + ' until ' + (doc.identity.notAfter || '?') +
      (doc.identity.consecutiveFailures > 0 ? ' · RENEWAL FAILING (' + doc.identity.consecutiveFailures + '): ' + doc.identity.lastError : '') : '');
  $('content').replaceChildren(renderListeners(doc), ...doc.targetGroups.map(renderGroup), renderTransitions(doc));
}

async function poll() {
  try {
    const response = await fetch('status.json', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
    $('banner').style.display = 'none';
  } catch (error) {
    $('banner').textContent = 'Cannot reach Ferry (' + error.message + '); retrying';
    $('banner').style.display = 'block';
  } finally {
    setTimeout(poll, POLL_MS);
  }
}
poll();
`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');

/** The page's Content-Security-Policy: its own inline script and style, same-origin fetches, nothing else. */
export const STATUS_PAGE_CSP = `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** The whole page, built once. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>Ferry</h1><span id="ready"></span><span class="meta" id="meta">loading…</span></header>
<div id="banner"></div>
<main id="content"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
