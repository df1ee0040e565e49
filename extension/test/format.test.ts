import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeStop, formatBytes, formatRuntime, formatSpeedup, formatTests } from '../src/format';

test('runtimes pick a unit', () => {
  assert.equal(formatRuntime(850), '850 ns');
  assert.equal(formatRuntime(12_340), '12.3 µs');
  assert.equal(formatRuntime(1_200_000), '1.2 ms');
  assert.equal(formatRuntime(2_500_000_000), '2.5 s');
  assert.equal(formatRuntime(null), '—');
});

test('memory in binary units', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(3 * 1024 * 1024), '3 MB');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(null), '—');
});

test('speed-ups say faster or slower', () => {
  assert.equal(formatSpeedup(3.4), '3.4× faster');
  assert.equal(formatSpeedup(0.5), '2× slower');
  assert.equal(formatSpeedup(1), 'same speed');
  assert.equal(formatSpeedup(null), '');
});

test('tests and stop reasons', () => {
  assert.equal(formatTests(4, 5), '4/5 tests');
  assert.equal(describeStop('budget'), 'stopped at the call budget');
  assert.equal(describeStop(null), '');
  assert.equal(describeStop('retested'), 're-run against the changed tests');
});
