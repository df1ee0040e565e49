import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { describeStop, formatBytes, formatNoise, formatRatio, formatRuntime, formatTests } from '../src/format';

/** The one table of display cases, shared with the Python tests (orps.units). */
interface FormatCases {
  ratios: Array<{ speedup: number; tie: boolean; text: string }>;
  bytes: Array<{ value: number; text: string }>;
  durations_ns: Array<{ value: number; text: string }>;
}

function repositoryRoot(): string {
  // Compiled to extension/out/test/: the repository is three levels up.
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'tests', 'fixtures', 'format_cases.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error('tests/fixtures/format_cases.json not found above the compiled tests');
    }
    dir = parent;
  }
  return dir;
}

const cases = JSON.parse(
  fs.readFileSync(path.join(repositoryRoot(), 'tests', 'fixtures', 'format_cases.json'), 'utf8'),
) as FormatCases;

test('the shared table has cases of each kind', () => {
  assert.ok(cases.ratios.length >= 10);
  assert.ok(cases.bytes.length >= 4);
  assert.ok(cases.durations_ns.length >= 4);
});

for (const c of cases.ratios) {
  test(`ratio ${c.speedup}${c.tie ? ' (tie)' : ''} reads "${c.text}"`, () => {
    assert.equal(formatRatio(c.speedup, c.tie), c.text);
  });
}

for (const c of cases.bytes) {
  test(`${c.value} bytes read "${c.text}"`, () => {
    assert.equal(formatBytes(c.value), c.text);
  });
}

for (const c of cases.durations_ns) {
  test(`${c.value} ns reads "${c.text}"`, () => {
    assert.equal(formatRuntime(c.value), c.text);
  });
}

test('ratios never use exponent notation or 0.00×', () => {
  for (let exp = -6; exp <= 6; exp += 0.25) {
    const text = formatRatio(10 ** exp, false);
    assert.doesNotMatch(text, /e[+-]?\d|0\.00×|Infinity|NaN/, text);
    assert.match(text, /^[\d,.]+× (faster|slower)$/, text);
  }
  assert.equal(formatRatio(null, false), '');
  assert.equal(formatRatio(0, false), '');
  assert.equal(formatRatio(null, true), '≈ same');
});

test('missing figures, noise, tests and stop reasons', () => {
  assert.equal(formatRuntime(null), '—');
  assert.equal(formatBytes(null), '—');
  assert.equal(formatNoise(12_340), '± 12.3 µs');
  assert.equal(formatNoise(null), '');
  assert.equal(formatNoise(0), '');
  assert.equal(formatTests(4, 5), '4/5 tests');
  assert.equal(describeStop('budget'), 'stopped at the call budget');
  assert.equal(describeStop(null), '');
  assert.equal(describeStop('retested'), 're-run against the changed tests');
  assert.equal(describeStop('restored'), 'restored after a server restart');
});

test('one unit system: binary units only', () => {
  for (const value of [1024, 5e5, 3 * 2 ** 20, 7e9]) {
    assert.match(formatBytes(value), / (KiB|MiB|GiB)$/);
  }
});
