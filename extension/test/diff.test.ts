import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffLines, diffStats, splitLines } from '../src/diff';

test('identical texts are all "same"', () => {
  const lines = diffLines('a\nb\n', 'a\nb\n');
  assert.deepEqual(lines.map((l) => l.kind), ['same', 'same']);
  assert.deepEqual(diffStats(lines), { added: 0, removed: 0 });
});

test('a changed line is a removal then an addition, with line numbers', () => {
  const lines = diffLines('def f():\n    return 1\n', 'def f():\n    return 2\n');
  assert.deepEqual(
    lines.map((l) => [l.kind, l.text, l.oldLine, l.newLine]),
    [
      ['same', 'def f():', 1, 1],
      ['removed', '    return 1', 2, null],
      ['added', '    return 2', null, 2],
    ],
  );
});

test('insertions and deletions in the middle keep the common lines', () => {
  const oldText = ['a', 'b', 'c', 'd', 'e'].join('\n');
  const newText = ['a', 'c', 'x', 'd', 'e', 'f'].join('\n');
  const lines = diffLines(oldText, newText);
  assert.deepEqual(
    lines.map((l) => `${l.kind[0]}${l.text}`),
    ['sa', 'rb', 'sc', 'ax', 'sd', 'se', 'af'],
  );
  assert.deepEqual(diffStats(lines), { added: 2, removed: 1 });
  // Both sides can be rebuilt from the diff.
  assert.equal(lines.filter((l) => l.kind !== 'added').map((l) => l.text).join('\n'), oldText);
  assert.equal(lines.filter((l) => l.kind !== 'removed').map((l) => l.text).join('\n'), newText);
});

test('empty sides and CRLF line ends', () => {
  assert.deepEqual(diffLines('', 'x\n').map((l) => l.kind), ['added']);
  assert.deepEqual(diffLines('x\n', '').map((l) => l.kind), ['removed']);
  assert.deepEqual(splitLines('a\r\nb\r\n'), ['a', 'b']);
  assert.deepEqual(diffLines('a\r\nb', 'a\nb\n').map((l) => l.kind), ['same', 'same']);
});

test('a random edit script round-trips', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let trial = 0; trial < 50; trial++) {
    const a = Array.from({ length: rand(12) }, () => `l${rand(5)}`);
    const b = Array.from({ length: rand(12) }, () => `l${rand(5)}`);
    const lines = diffLines(a.join('\n'), b.join('\n'));
    assert.deepEqual(lines.filter((l) => l.kind !== 'added').map((l) => l.text), a);
    assert.deepEqual(lines.filter((l) => l.kind !== 'removed').map((l) => l.text), b);
  }
});
