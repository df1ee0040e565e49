/**
 * Turns a `CandidatesPayload` into what the comparison panel (and the quick pick) shows: the
 * current code as a first-class row, the ranked candidates with their figures, bars, the diff
 * against the current code, and the one verdict line.
 *
 * The comparison itself is the server's: each row shows the payload's `ratioText`, `tie` and
 * `preferred` as sent, and the verdict is the payload's `verdict`; nothing here computes another
 * ratio. Runtime bars are on a shared log scale (labelled), so a 2× difference stays visible
 * next to a 100× outlier. Pure data in, pure data out, so the content is tested without a webview.
 */

import { diffLines, diffStats, DiffLine, DiffStats } from './diff';
import { describeStop, formatBytes, formatNoise, formatRuntime, formatTests } from './format';
import { Candidate, CandidatesPayload } from './protocol';

/** A horizontal bar: `fraction` of the full width; `reference` marks the current code's value;
 * `band` is the ± noise around the value (fractions of the width). */
export interface Bar {
  fraction: number;
  reference: number | null;
  band: [number, number] | null;
  label: string;
}

/** The shared log scale of the runtime bars, with its decade ticks. */
export interface LogScale {
  low: number;
  high: number;
  ticks: number[];
  caption: string;
}

export type RowKind = 'current' | 'candidate';

export interface Row {
  kind: RowKind;
  id: string;
  rank: number;
  /** "current" or "#3". */
  label: string;
  /** The server's ratio text ("3.2× faster", "≈ same"); empty for the current row. */
  ratioText: string;
  tie: boolean;
  preferred: boolean;
  failsCurrentTests: boolean;
  passesAll: boolean;
  testsText: string;
  /** What the runtime figure is, in words. */
  runtimeCaption: string;
  runtimeText: string;
  noiseText: string;
  /** The current code's runtime on the same tests, for a candidate row. */
  currentRuntimeText: string;
  memoryText: string;
  tests: Bar;
  runtime: Bar;
  memory: Bar;
  code: string;
  reasoning: string;
  status: string;
  failures: string[];
  diff: DiffLine[];
  diffStats: DiffStats;
  sameAsCurrent: boolean;
}

export type VerdictKind = 'preferred' | 'current' | 'none' | 'pending';

export interface PanelModel {
  uri: string;
  name: string;
  fileName: string;
  /** The model's short name (no endpoint URL); empty when not known yet. */
  model: string;
  running: boolean;
  /** The one progress line while running, how the search ended after. */
  statusText: string;
  /** 0..1 while the progress is known, else null. */
  progressFraction: number | null;
  verdict: string;
  verdictKind: VerdictKind;
  /** A note from the extension itself (a restart restored the results, an accept applied). */
  notice: string;
  /** Why there is no candidate, when there is none and the search ended. */
  emptyText: string;
  testsTotal: number;
  testSources: string[];
  currentCode: string;
  baseline: 'current' | 'none';
  runtimeScale: LogScale | null;
  /** The current code's row (first-class, first), or null for a stub. */
  current: Row | null;
  /** The candidates, best first. */
  rows: Row[];
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** The short name of a model label such as "qwen @ http://host:8080/v1". */
export function shortModel(label: string): string {
  const at = label.indexOf(' @ ');
  return (at >= 0 ? label.slice(0, at) : label).trim();
}

/** A log scale over whole decades covering every positive value. */
export function logScale(values: Array<number | null>): LogScale | null {
  const positive = values.filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  if (positive.length === 0) {
    return null;
  }
  const lowExp = Math.floor(Math.log10(Math.min(...positive)));
  let highExp = Math.ceil(Math.log10(Math.max(...positive)));
  if (highExp <= lowExp) {
    highExp = lowExp + 1;
  }
  const ticks: number[] = [];
  for (let e = lowExp; e <= highExp; e++) {
    ticks.push((e - lowExp) / (highExp - lowExp));
  }
  const low = 10 ** lowExp;
  const high = 10 ** highExp;
  return { low, high, ticks, caption: `log scale, ${formatRuntime(low)} to ${formatRuntime(high)}` };
}

export function logFraction(value: number | null, scale: LogScale | null): number {
  if (value === null || scale === null || value <= 0) {
    return 0;
  }
  const span = Math.log10(scale.high) - Math.log10(scale.low);
  return clamp01((Math.log10(value) - Math.log10(scale.low)) / span);
}

function runtimeBar(value: number | null, reference: number | null, noise: number | null, scale: LogScale | null, label: string): Bar {
  const band: [number, number] | null =
    value !== null && noise !== null && noise > 0
      ? [logFraction(Math.max(value - noise, value / 1000), scale), logFraction(value + noise, scale)]
      : null;
  return {
    fraction: logFraction(value, scale),
    reference: reference === null ? null : logFraction(reference, scale),
    band,
    label,
  };
}

function linearBar(value: number | null, reference: number | null, max: number, label: string): Bar {
  return {
    fraction: value === null || max <= 0 ? 0 : clamp01(value / max),
    reference: reference === null || max <= 0 ? null : clamp01(reference / max),
    band: null,
    label,
  };
}

function testsBar(c: Candidate, current: Candidate | null): Bar {
  const isCurrent = c === current;
  return {
    fraction: c.testsTotal > 0 ? clamp01(c.testsPassed / c.testsTotal) : 0,
    reference: !isCurrent && current && current.testsTotal > 0 ? clamp01(current.testsPassed / current.testsTotal) : null,
    band: null,
    label: !isCurrent && current ? `current ${current.testsPassed}/${current.testsTotal}` : '',
  };
}

function normaliseCode(code: string): string {
  return code.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A candidate's runtime as the comparison uses it: over the tests both it and the current code
 * pass, when there is a current code to compare with; else over the tests it passes. */
function comparedRuntime(c: Candidate, hasBaseline: boolean): { value: number | null; caption: string; current: number | null } {
  if (hasBaseline && c.comparedTests > 0 && c.runtimeComparedNs !== null) {
    return {
      value: c.runtimeComparedNs,
      caption: `sum of per-test medians on the ${plural(c.comparedTests, 'test')} both pass`,
      current: c.currentRuntimeComparedNs,
    };
  }
  if (hasBaseline && c.testsPassed > 0) {
    return { value: c.runtimeNs, caption: 'no test in common with the current code: not compared', current: null };
  }
  return { value: c.runtimeNs, caption: c.testsPassed > 0 ? 'on the tests it passes' : 'passes no test', current: null };
}

interface Scales {
  runtime: LogScale | null;
  memory: number;
}

function buildRow(
  c: Candidate,
  kind: RowKind,
  payload: CandidatesPayload,
  scales: Scales,
  currentCode: string,
): Row {
  const current = payload.current;
  const hasBaseline = payload.baseline === 'current' && current !== null;
  const diff = kind === 'current' ? [] : diffLines(currentCode, normaliseCode(c.code));
  const stats = diffStats(diff);
  let runtime: { value: number | null; caption: string; current: number | null };
  if (kind === 'current') {
    // The server sums the current code's per-test medians over the tests it passes (the same
    // aggregation as the candidates' compared runtimes); older servers send only runtimeNs.
    runtime =
      c.runtimeComparedNs !== null && c.comparedTests > 0
        ? { value: c.runtimeComparedNs, caption: `sum of per-test medians on the ${plural(c.comparedTests, 'test')} it passes`, current: null }
        : { value: c.runtimeNs, caption: `on the ${plural(c.testsPassed, 'test')} it passes`, current: null };
  } else {
    runtime = comparedRuntime(c, hasBaseline);
  }
  const ratioText = kind === 'current' ? '' : c.ratioText;
  return {
    kind,
    id: c.id,
    rank: c.rank,
    label: kind === 'current' ? 'current' : `#${c.rank}`,
    ratioText,
    tie: kind === 'candidate' && c.tie,
    preferred: kind === 'candidate' && c.preferred,
    failsCurrentTests: kind === 'candidate' && c.failsCurrentTests,
    passesAll: c.testsTotal > 0 && c.testsPassed === c.testsTotal,
    testsText: formatTests(c.testsPassed, c.testsTotal),
    runtimeCaption: runtime.caption,
    runtimeText: formatRuntime(runtime.value),
    noiseText: formatNoise(c.runtimeNoiseNs),
    currentRuntimeText: runtime.current === null ? '' : formatRuntime(runtime.current),
    memoryText: formatBytes(c.peakMemoryBytes),
    tests: testsBar(c, current),
    runtime: runtimeBar(
      runtime.value,
      runtime.current,
      c.runtimeNoiseNs,
      scales.runtime,
      runtime.current === null ? '' : `current ${formatRuntime(runtime.current)}`,
    ),
    memory: linearBar(
      c.peakMemoryBytes,
      kind === 'current' ? null : (current?.peakMemoryBytes ?? null),
      scales.memory,
      kind !== 'current' && current?.peakMemoryBytes != null ? `current ${formatBytes(current.peakMemoryBytes)}` : '',
    ),
    code: c.code,
    reasoning: c.reasoning,
    status: c.status,
    failures: c.failures,
    diff,
    diffStats: stats,
    sameAsCurrent: kind === 'candidate' && stats.added === 0 && stats.removed === 0,
  };
}

export function progressText(payload: CandidatesPayload): string {
  if (!payload.running) {
    const ended = describeStop(payload.stopped) || 'no search running';
    if (payload.stopped === 'accepted') {
      return `${ended[0].toUpperCase()}${ended.slice(1)}`;
    }
    return `${ended[0].toUpperCase()}${ended.slice(1)} · ${plural(payload.candidates.length, 'candidate')}`;
  }
  const p = payload.progress;
  if (!p) {
    return 'Search starting…';
  }
  // The server words the one progress line; the fields are the fallback.
  if (p.message) {
    return p.message;
  }
  return [
    `Round ${p.round}/${p.rounds}`,
    `${p.llmCalls}/${p.maxCalls} model calls`,
    `${plural(p.candidates, 'candidate')} tested`,
  ].join(' · ');
}

function progressFraction(payload: CandidatesPayload): number | null {
  if (!payload.running) {
    return 1;
  }
  const p = payload.progress;
  if (!p || p.maxCalls <= 0) {
    return null;
  }
  const byCalls = p.llmCalls / p.maxCalls;
  const byRounds = p.rounds + 1 > 0 ? p.round / (p.rounds + 1) : 0;
  return clamp01(Math.max(byCalls, byRounds));
}

function baseName(uri: string): string {
  const path = uri.replace(/[?#].*$/, '');
  const slash = path.lastIndexOf('/');
  return decodeURIComponent(slash >= 0 ? path.slice(slash + 1) : path);
}

/** The verdict: the server's line; the kind (for colour) follows `preferred` and `baseline`. */
function verdictOf(payload: CandidatesPayload): { text: string; kind: VerdictKind } {
  const preferred = payload.candidates.find((c) => c.preferred);
  const kind: VerdictKind = preferred
    ? 'preferred'
    : payload.candidates.length === 0 && payload.running
      ? 'pending'
      : payload.baseline === 'none'
        ? 'none'
        : 'current';
  if (payload.verdict) {
    return { text: payload.verdict, kind };
  }
  // An older server sends no verdict: say only what its flags say.
  if (preferred) {
    return { text: `#${preferred.rank} is preferred`, kind };
  }
  if (kind === 'pending') {
    return { text: '', kind };
  }
  if (kind === 'none') {
    return { text: 'No baseline: the function is a stub.', kind };
  }
  return { text: 'The current code stays best.', kind };
}

export function buildPanelModel(payload: CandidatesPayload, notice = ''): PanelModel {
  const current = payload.current;
  const currentCode = normaliseCode(payload.currentCode);
  const hasBaseline = payload.baseline === 'current' && current !== null;
  const runtimeValues: Array<number | null> = [];
  if (current) {
    runtimeValues.push(current.comparedTests > 0 && current.runtimeComparedNs !== null ? current.runtimeComparedNs : current.runtimeNs);
  }
  for (const c of payload.candidates) {
    const r = comparedRuntime(c, hasBaseline);
    runtimeValues.push(r.value, r.current);
  }
  const memoryValues = [current, ...payload.candidates].map((c) => c?.peakMemoryBytes ?? 0);
  const scales: Scales = { runtime: logScale(runtimeValues), memory: Math.max(0, ...memoryValues) };
  const rows = [...payload.candidates]
    .sort((x, y) => x.rank - y.rank)
    .map((c) => buildRow(c, 'candidate', payload, scales, currentCode));
  const verdict = verdictOf(payload);
  const emptyText =
    payload.candidates.length === 0 && !payload.running && payload.stopped !== 'accepted'
      ? payload.emptyReason
        ? `0 candidates: ${payload.emptyReason}`
        : '0 candidates (the server gave no reason).'
      : '';
  return {
    uri: payload.uri,
    name: payload.name,
    fileName: baseName(payload.uri),
    model: shortModel(payload.model),
    running: payload.running,
    statusText: progressText(payload),
    progressFraction: progressFraction(payload),
    verdict: verdict.text,
    verdictKind: verdict.kind,
    notice,
    emptyText,
    testsTotal: payload.testsTotal,
    testSources: payload.testSources,
    currentCode,
    baseline: hasBaseline ? 'current' : 'none',
    runtimeScale: scales.runtime,
    current: current ? buildRow(current, 'current', payload, scales, currentCode) : null,
    rows,
  };
}
