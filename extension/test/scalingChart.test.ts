import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalisePayload } from '../src/protocol';
import { chartSeries, formatGrowth, readScaling, renderScalingChart, scalingCard } from '../src/scalingChart';

function payload(extra: Record<string, unknown>) {
  const candidate = (rank: number, scaling: unknown, growth: unknown) => ({
    id: `c${rank}`,
    rank,
    code: 'def f(): ...',
    testsPassed: 1,
    testsTotal: 1,
    runtimeNs: 1000,
    status: 'completed',
    scaling,
    growth,
  });
  const raw = {
    uri: 'file:///tmp/m.py',
    name: 'f',
    candidates: [
      candidate(1, [{ scale: 1024, runtimeNs: 10_000 }, { scale: 4096, runtimeNs: 40_000 }], 1.0),
      candidate(2, [{ scale: 1024, runtimeNs: 200_000 }, { scale: 4096, runtimeNs: 3_200_000 }], 2.0),
      candidate(3, [], null),
    ],
    current: candidate(0, [{ scale: 1024, runtimeNs: 50_000 }], null),
    ...extra,
  };
  const normalised = normalisePayload(raw);
  assert.ok(normalised);
  return normalised;
}

test('scaling points survive normalisation and are read defensively', () => {
  const p = payload({});
  assert.deepEqual(p.candidates[0].scaling, [
    { scale: 1024, runtimeNs: 10_000 },
    { scale: 4096, runtimeNs: 40_000 },
  ]);
  assert.deepEqual(readScaling([{ scale: 8, runtimeNs: 5 }, { scale: -1, runtimeNs: 3 }, 'x', null]), [
    { scale: 8, runtimeNs: 5 },
  ]);
  assert.deepEqual(readScaling('nonsense'), []);
});

test('the current code comes first, candidates without points are left out', () => {
  const series = chartSeries(payload({}));
  assert.deepEqual(
    series.map((s) => [s.label, s.current, s.growth]),
    [
      ['current', true, null],
      ['#1', false, 1.0],
      ['#2', false, 2.0],
    ],
  );
});

test('the chart is an svg with one line per series, log-log', () => {
  const svg = renderScalingChart(chartSeries(payload({})));
  assert.match(svg, /^<svg class="scaling-chart"/);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
  assert.match(svg, /n = 1,024/);
  assert.match(svg, /n = 4,096/);
  // #2 grows 16x over a 4x range, #1 4x: on log-log axes #2's line is twice as steep.
  const lines = [...svg.matchAll(/points="([^"]+)"/g)].map((m) =>
    m[1].split(' ').map((xy) => xy.split(',').map(Number)),
  );
  const slope = (pts: number[][]) => (pts[1][1] - pts[0][1]) / (pts[1][0] - pts[0][0]);
  assert.ok(Math.abs(slope(lines[2]) / slope(lines[1]) - 2) < 0.05);
  assert.equal(renderScalingChart([]), '');
});

test('the card has a legend with growths and escapes the note', () => {
  const card = scalingCard(payload({ scaleNote: 'perf_input <broke>; runtimes are from the tests only' }));
  assert.match(card, /Runtime against input size/);
  assert.match(card, /#1: 40.0 µs at n = 4,096, ≈ n\^1\.0/);
  assert.match(card, /&lt;broke&gt;/);
  assert.equal(formatGrowth(1.96), '≈ n^2.0');
  const nothing = payload({});
  nothing.candidates = [];
  nothing.current = null;
  assert.equal(scalingCard(nothing), '');
});
