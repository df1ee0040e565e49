/**
 * Turns a `CandidatesPayload` into what the comparison panel shows: ranked rows with their
 * figures, bars relative to the current implementation, and a diff against the current code.
 *
 * Pure data in, pure data out, so the panel's content is tested without a webview.
 */

import { diffLines, diffStats, DiffLine, DiffStats } from './diff';
import { describeStop, formatBytes, formatRuntime, formatSpeedup, formatTests } from './format';
import { Candidate, CandidatesPayload } from './protocol';

/** One horizontal bar: `fraction` of the full width, a marker at the current implementation's
 * value, and the value relative to it (candidate ÷ current). */
export interface Bar {
  fraction: number;
  reference: number | null;
  ratio: number | null;
  label: string;
}

export interface Figures {
  testsText: string;
  runtimeText: string;
  memoryText: string;
  speedupText: string;
  tests: Bar;
  runtime: Bar;
  memory: Bar;
}

export interface CandidateRow extends Figures {
  id: string;
  rank: number;
  code: string;
  reasoning: string;
  status: string;
  failures: string[];
  passesAll: boolean;
  diff: DiffLine[];
  diffStats: DiffStats;
  sameAsCurrent: boolean;
}

export interface PanelModel {
  uri: string;
  name: string;
  fileName: string;
  model: string;
  running: boolean;
  /** One line on the search: its progress while running, how it ended after. */
  statusText: string;
  /** 0..1 while the progress is known, else null. */
  progressFraction: number | null;
  testsTotal: number;
  testSources: string[];
  currentCode: string;
  current: Figures | null;
  rows: CandidateRow[];
}

interface Scale {
  runtime: number;
  memory: number;
}

function maxOf(values: Array<number | null>): number {
  let max = 0;
  for (const v of values) {
    if (v !== null && v > max) {
      max = v;
    }
  }
  return max;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** A bar for a "lower is better" quantity on a shared scale. */
export function measureBar(value: number | null, current: number | null, scale: number): Bar {
  const fraction = value === null || scale <= 0 ? 0 : clamp01(value / scale);
  const reference = current === null || scale <= 0 ? null : clamp01(current / scale);
  const ratio = value === null || current === null || current <= 0 ? null : value / current;
  const label = ratio === null ? '' : `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2)}× current`;
  return { fraction, reference, ratio, label };
}

export function testsBar(passed: number, total: number, current: Candidate | null): Bar {
  const fraction = total > 0 ? clamp01(passed / total) : 0;
  const reference =
    current && current.testsTotal > 0 ? clamp01(current.testsPassed / current.testsTotal) : null;
  const ratio = current && current.testsPassed > 0 ? passed / current.testsPassed : null;
  const label = current ? `current ${current.testsPassed}/${current.testsTotal}` : '';
  return { fraction, reference, ratio, label };
}

function figures(c: Candidate, current: Candidate | null, scale: Scale): Figures {
  const speedup =
    c.speedupVsCurrent ??
    (current?.runtimeNs && c.runtimeNs ? current.runtimeNs / c.runtimeNs : null);
  return {
    testsText: formatTests(c.testsPassed, c.testsTotal),
    runtimeText: formatRuntime(c.runtimeNs),
    memoryText: formatBytes(c.peakMemoryBytes),
    speedupText: c === current ? 'current' : formatSpeedup(speedup),
    tests: testsBar(c.testsPassed, c.testsTotal, current),
    runtime: measureBar(c.runtimeNs, current?.runtimeNs ?? null, scale.runtime),
    memory: measureBar(c.peakMemoryBytes, current?.peakMemoryBytes ?? null, scale.memory),
  };
}

function normaliseCode(code: string): string {
  return code.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
}

export function progressText(payload: CandidatesPayload): string {
  if (!payload.running) {
    const ended = describeStop(payload.stopped) || 'no search running';
    const count = payload.candidates.length;
    return `${ended[0].toUpperCase()}${ended.slice(1)} · ${count} candidate${count === 1 ? '' : 's'}`;
  }
  const p = payload.progress;
  if (!p) {
    return 'Search starting…';
  }
  const parts = [
    `Round ${p.round}/${p.rounds}`,
    `${p.llmCalls}/${p.maxCalls} model calls`,
    `${p.candidates} candidate${p.candidates === 1 ? '' : 's'} tested`,
  ];
  if (p.message) {
    parts.push(p.message);
  }
  return parts.join(' · ');
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

export function buildPanelModel(payload: CandidatesPayload): PanelModel {
  const current = payload.current;
  const all = current ? [current, ...payload.candidates] : payload.candidates;
  const scale: Scale = {
    runtime: maxOf(all.map((c) => c.runtimeNs)),
    memory: maxOf(all.map((c) => c.peakMemoryBytes)),
  };
  const currentCode = normaliseCode(payload.currentCode);
  const rows = [...payload.candidates]
    .sort((x, y) => x.rank - y.rank)
    .map((c): CandidateRow => {
      const diff = diffLines(currentCode, normaliseCode(c.code));
      const stats = diffStats(diff);
      return {
        ...figures(c, current, scale),
        id: c.id,
        rank: c.rank,
        code: c.code,
        reasoning: c.reasoning,
        status: c.status,
        failures: c.failures,
        passesAll: c.testsTotal > 0 && c.testsPassed === c.testsTotal,
        diff,
        diffStats: stats,
        sameAsCurrent: stats.added === 0 && stats.removed === 0,
      };
    });
  return {
    uri: payload.uri,
    name: payload.name,
    fileName: baseName(payload.uri),
    model: payload.model,
    running: payload.running,
    statusText: progressText(payload),
    progressFraction: progressFraction(payload),
    testsTotal: payload.testsTotal,
    testSources: payload.testSources,
    currentCode,
    current: current ? figures(current, current, scale) : null,
    rows,
  };
}
