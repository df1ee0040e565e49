/**
 * A small line diff (longest common subsequence), for showing a candidate against the current
 * code in the comparison panel without any library.
 *
 * Functions are short, so the quadratic table is cheap; past a size limit the diff falls back to
 * "all removed, all added", which is still correct, only less precise.
 */

export type DiffKind = 'same' | 'added' | 'removed';

export interface DiffLine {
  kind: DiffKind;
  text: string;
  /** 1-based line number in the old text (same/removed), else null. */
  oldLine: number | null;
  /** 1-based line number in the new text (same/added), else null. */
  newLine: number | null;
}

export interface DiffStats {
  added: number;
  removed: number;
}

const MAX_CELLS = 4_000_000;

export function splitLines(text: string): string[] {
  if (text === '') {
    return [];
  }
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') {
    lines.pop();
  }
  return lines;
}

/** The lines of `newText` against `oldText`, in order, removals before additions in a change. */
export function diffLines(oldText: string, newText: string): DiffLine[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) {
    prefix += 1;
  }
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  ) {
    suffix += 1;
  }
  const out: DiffLine[] = [];
  for (let i = 0; i < prefix; i++) {
    out.push({ kind: 'same', text: a[i], oldLine: i + 1, newLine: i + 1 });
  }
  const midA = a.slice(prefix, a.length - suffix);
  const midB = b.slice(prefix, b.length - suffix);
  for (const line of diffMiddle(midA, midB)) {
    out.push({
      ...line,
      oldLine: line.oldLine === null ? null : line.oldLine + prefix,
      newLine: line.newLine === null ? null : line.newLine + prefix,
    });
  }
  for (let k = 0; k < suffix; k++) {
    const i = a.length - suffix + k;
    const j = b.length - suffix + k;
    out.push({ kind: 'same', text: a[i], oldLine: i + 1, newLine: j + 1 });
  }
  return out;
}

function diffMiddle(a: string[], b: string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map((text, i): DiffLine => ({ kind: 'removed', text, oldLine: i + 1, newLine: null })),
      ...b.map((text, j): DiffLine => ({ kind: 'added', text, oldLine: null, newLine: j + 1 })),
    ];
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i], oldLine: i + 1, newLine: j + 1 });
      i += 1;
      j += 1;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      out.push({ kind: 'removed', text: a[i], oldLine: i + 1, newLine: null });
      i += 1;
    } else {
      out.push({ kind: 'added', text: b[j], oldLine: null, newLine: j + 1 });
      j += 1;
    }
  }
  for (; i < n; i++) {
    out.push({ kind: 'removed', text: a[i], oldLine: i + 1, newLine: null });
  }
  for (; j < m; j++) {
    out.push({ kind: 'added', text: b[j], oldLine: null, newLine: j + 1 });
  }
  return out;
}

export function diffStats(lines: DiffLine[]): DiffStats {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === 'added') {
      added += 1;
    } else if (line.kind === 'removed') {
      removed += 1;
    }
  }
  return { added, removed };
}
