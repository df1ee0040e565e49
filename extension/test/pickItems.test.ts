import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  candidateDocumentText,
  candidateDocumentUri,
  parseCandidateDocumentUri,
  pickItems,
  pickTitle,
} from '../src/pickItems';
import { CURRENT_CODE, DOC_URI, FAST_CODE, payload } from './fixtures';

test('quick-pick items carry the panel figures, current in the title', () => {
  const items = pickItems(payload());
  assert.equal(items.length, 2);
  assert.equal(items[0].id, 'c1');
  assert.equal(items[0].label, '$(pass) #1  5/5 tests · 4× faster');
  assert.equal(items[0].description, '1 ms (0.25× current) · 2 MB (1.00× current) · +4 −3 lines');
  assert.equal(items[0].detail, 'Iterate instead of recursing.');
  assert.equal(items[1].label, '$(error) #2  4/5 tests · 2× slower');
  assert.equal(pickTitle(payload()), 'ORPS: fib (2 candidates) · current: 5/5 tests, 4 ms, 2 MB');
  assert.equal(pickTitle(payload({ running: true, current: null })), 'ORPS: fib (searching…)');
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
