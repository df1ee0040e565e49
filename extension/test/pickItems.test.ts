import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  candidateDocumentText,
  candidateDocumentUri,
  parseCandidateDocumentUri,
  pickItems,
  pickTitle,
} from '../src/pickItems';
import { candidate, CURRENT_CODE, DOC_URI, FAST_CODE, payload } from './fixtures';

test('quick pick: the current code first, then the candidates with the server\'s ratio; the verdict in the title', () => {
  const items = pickItems(payload());
  assert.equal(items.length, 3);
  assert.equal(items[0].id, undefined, 'the current row is not selectable');
  assert.equal(items[0].label, '$(circle-large-filled) current  5/5 tests');
  assert.equal(items[0].description, '4.00 ms ± 10.0 µs · 2.0 MiB · runtime on the 5 tests it passes');
  assert.equal(items[1].id, 'c1');
  assert.equal(items[1].label, '$(star-full) #1  5/5 tests · 4.0× faster · preferred');
  assert.equal(items[1].description, '5.00 ms ± 10.0 µs (current 20.00 ms) · 2.0 MiB · +4 −3 lines');
  assert.equal(items[1].detail, 'Iterate instead of recursing.');
  assert.equal(items[2].label, '$(error) #2  4/5 tests · fails tests the current code passes');
  assert.equal(pickTitle(payload()), 'ORPS: fib (2 candidates) · #1 is 4.0× faster than the current code');
  assert.equal(pickTitle(payload({ running: true, current: null, verdict: '', candidates: [] })), 'ORPS: fib (searching…)');
});

test('quick pick when the current code stays best', () => {
  const p = payload({
    candidates: [candidate({ preferred: false, ratioText: '2.0× slower', speedup: 0.49 })],
    verdict: 'the current code stays best: no candidate is faster beyond noise while passing its tests',
  });
  const items = pickItems(p);
  assert.equal(items[0].label, '$(circle-large-filled) current  5/5 tests · stays best');
  assert.equal(items[1].label, '$(pass) #1  5/5 tests · 2.0× slower');
  assert.match(pickTitle(p), /the current code stays best/);
});

test('virtual candidate documents round-trip their URI', () => {
  const uri = candidateDocumentUri(DOC_URI, 'Cache.get', 'abc123');
  assert.ok(uri.startsWith('orps-candidate:/Cache.get/abc123.py?'));
  assert.deepEqual(parseCandidateDocumentUri(uri), { documentUri: DOC_URI, name: 'Cache.get', id: 'abc123' });
  assert.equal(parseCandidateDocumentUri('file:///x.py'), undefined);
  assert.equal(candidateDocumentText(payload(), 'current'), CURRENT_CODE);
  assert.equal(candidateDocumentText(payload(), 'c1'), FAST_CODE);
  assert.equal(candidateDocumentText(payload(), 'nope'), undefined);
});
