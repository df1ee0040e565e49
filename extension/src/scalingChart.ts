/**
 * The runtime-against-scale chart of the comparison panel: one small inline SVG (log-log axes)
 * with a line per candidate and one for the current code, drawn from the payload's `scaling`
 * points ({scale, runtimeNs}) and labelled with each one's growth (≈ n^1.0). Pure string
 * building, no DOM and no vscode API, so it is unit-tested under node; the panel only inserts
 * `scalingCard(payload)` where it renders its cards.
 */

import { escapeHtml } from './panelHtml';
import { formatRuntime } from './format';
import { CandidatesPayload } from './protocol';

export interface ScalePoint {
  scale: number;
  runtimeNs: number;
}

export interface ChartSeries {
  label: string;
  points: ScalePoint[];
  growth: number | null;
  current: boolean;
}

const MAX_SERIES = 6;
const COLOURS = ['#3b82f6', '#f97316', '#22c55e', '#a855f7', '#ef4444', '#14b8a6'];
const CURRENT_COLOUR = '#9ca3af';

/** Reads `scaling` defensively: points with a positive scale and runtime, by scale. */
export function readScaling(raw: unknown): ScalePoint[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const points: ScalePoint[] = [];
  for (const item of raw) {
    const p = item as Partial<ScalePoint> | null;
    if (
      p &&
      typeof p.scale === 'number' &&
      typeof p.runtimeNs === 'number' &&
      Number.isFinite(p.scale) &&
      Number.isFinite(p.runtimeNs) &&
      p.scale > 0 &&
      p.runtimeNs > 0
    ) {
      points.push({ scale: p.scale, runtimeNs: p.runtimeNs });
    }
  }
  return points.sort((a, b) => a.scale - b.scale);
}

function readGrowth(raw: unknown): number | null {
  return typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
}

/** The series to draw: the current code first (when measured at scale), then the best candidates. */
export function chartSeries(payload: CandidatesPayload): ChartSeries[] {
  const series: ChartSeries[] = [];
  const current = payload.current as unknown as Record<string, unknown> | null;
  if (current) {
    const points = readScaling(current.scaling);
    if (points.length) {
      series.push({ label: 'current', points, growth: readGrowth(current.growth), current: true });
    }
  }
  for (const candidate of payload.candidates) {
    const raw = candidate as unknown as Record<string, unknown>;
    const points = readScaling(raw.scaling);
    if (points.length && series.length < MAX_SERIES) {
      series.push({ label: `#${candidate.rank}`, points, growth: readGrowth(raw.growth), current: false });
    }
  }
  return series;
}

export function formatGrowth(growth: number | null): string {
  return growth === null ? '' : `≈ n^${growth.toFixed(1)}`;
}

export function formatScale(scale: number): string {
  return Math.round(scale).toLocaleString('en-US');
}

/** A log-log line chart as an SVG string; empty when there is nothing to draw. */
export function renderScalingChart(series: ChartSeries[], width = 360, height = 200): string {
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    return '';
  }
  const pad = { left: 56, right: 12, top: 10, bottom: 30 };
  const lx = (v: number) => Math.log10(v);
  let [x0, x1] = [Math.min(...all.map((p) => lx(p.scale))), Math.max(...all.map((p) => lx(p.scale)))];
  let [y0, y1] = [Math.min(...all.map((p) => lx(p.runtimeNs))), Math.max(...all.map((p) => lx(p.runtimeNs)))];
  if (x1 - x0 < 1e-9) {
    [x0, x1] = [x0 - 0.5, x1 + 0.5];
  }
  if (y1 - y0 < 1e-9) {
    [y0, y1] = [y0 - 0.5, y1 + 0.5];
  }
  const px = (v: number) => pad.left + ((lx(v) - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const py = (v: number) => height - pad.bottom - ((lx(v) - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg class="scaling-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" role="img" aria-label="runtime against input size">`,
  );
  const axis = 'stroke="currentColor" stroke-opacity="0.4"';
  parts.push(`<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" ${axis}/>`);
  parts.push(`<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" ${axis}/>`);
  const text = 'fill="currentColor" font-size="10"';
  const xLow = Math.pow(10, x0);
  const xHigh = Math.pow(10, x1);
  parts.push(`<text x="${pad.left}" y="${height - 8}" ${text}>n = ${escapeHtml(formatScale(xLow))}</text>`);
  parts.push(
    `<text x="${width - pad.right}" y="${height - 8}" text-anchor="end" ${text}>n = ${escapeHtml(formatScale(xHigh))}</text>`,
  );
  parts.push(`<text x="${pad.left - 4}" y="${pad.top + 8}" text-anchor="end" ${text}>${escapeHtml(formatRuntime(Math.pow(10, y1)))}</text>`);
  parts.push(
    `<text x="${pad.left - 4}" y="${height - pad.bottom}" text-anchor="end" ${text}>${escapeHtml(formatRuntime(Math.pow(10, y0)))}</text>`,
  );
  series.forEach((s, index) => {
    const colour = s.current ? CURRENT_COLOUR : COLOURS[index % COLOURS.length];
    const dash = s.current ? ' stroke-dasharray="4 3"' : '';
    const coords = s.points.map((p) => `${px(p.scale).toFixed(1)},${py(p.runtimeNs).toFixed(1)}`);
    const title = `${s.label} ${formatGrowth(s.growth)}`.trim();
    parts.push(
      `<g class="series" data-label="${escapeHtml(s.label)}"><title>${escapeHtml(title)}</title>` +
        `<polyline fill="none" stroke="${colour}" stroke-width="1.5"${dash} points="${coords.join(' ')}"/>` +
        s.points
          .map((p) => `<circle cx="${px(p.scale).toFixed(1)}" cy="${py(p.runtimeNs).toFixed(1)}" r="2" fill="${colour}"/>`)
          .join('') +
        '</g>',
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** The panel card: the chart, a legend with each line's growth, and the search's scale note. */
export function scalingCard(payload: CandidatesPayload): string {
  const raw = payload as unknown as Record<string, unknown>;
  const note = typeof raw.scaleNote === 'string' ? raw.scaleNote : '';
  const series = chartSeries(payload);
  if (!series.length && !note) {
    return '';
  }
  const legend = series
    .map((s, index) => {
      const colour = s.current ? CURRENT_COLOUR : COLOURS[index % COLOURS.length];
      const top = s.points[s.points.length - 1];
      const at = `${formatRuntime(top.runtimeNs)} at n = ${formatScale(top.scale)}`;
      return (
        `<li><span class="swatch" style="background:${colour}"></span>${escapeHtml(s.label)}: ` +
        `${escapeHtml(at)}${s.growth === null ? '' : `, ${escapeHtml(formatGrowth(s.growth))}`}</li>`
      );
    })
    .join('');
  return (
    '<section class="card scaling"><h3>Runtime against input size</h3>' +
    renderScalingChart(series) +
    (legend ? `<ul class="legend">${legend}</ul>` : '') +
    (note ? `<p class="note">${escapeHtml(note)}</p>` : '') +
    '</section>'
  );
}
