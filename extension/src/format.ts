/**
 * How measured figures are written for people: runtimes, memory, speed ratios and test counts.
 *
 * The one formatter of the extension: the panel, the quick pick and the status bar all use it,
 * and it follows the same rules as the server's `orps.units` (both are tested against one table
 * of cases, `tests/fixtures/format_cases.json`). Memory is in binary units (B, KiB, MiB, GiB)
 * everywhere; ratios read as people say them ("3.2× faster", "140× slower", "≈ same"), never in
 * exponent notation.
 */

export const TIE_TEXT = '≈ same';

/** 850 ns, 12.3 µs, 23.96 ms, 1.70 s. */
export function formatRuntime(ns: number | null): string {
  if (ns === null || !Number.isFinite(ns)) {
    return '—';
  }
  if (ns < 1e3) {
    return `${ns.toFixed(0)} ns`;
  }
  if (ns < 1e6) {
    return `${(ns / 1e3).toFixed(1)} µs`;
  }
  if (ns < 1e9) {
    return `${(ns / 1e6).toFixed(2)} ms`;
  }
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** 512 B, 2.0 KiB, 2.0 MiB, 1.5 GiB. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) {
    return '—';
  }
  if (bytes < 1024) {
    return `${bytes.toFixed(0)} B`;
  }
  const units: Array<[string, number]> = [
    ['KiB', 2 ** 10],
    ['MiB', 2 ** 20],
    ['GiB', 2 ** 30],
  ];
  for (const [unit, scale] of units) {
    if (bytes < scale * 1024 || unit === 'GiB') {
      return `${(bytes / scale).toFixed(1)} ${unit}`;
    }
  }
  return '—';
}

function withThousands(value: number): string {
  return Math.round(value)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A factor ≥ 1 as people say it: 3.2, 1.04, 140, 12,346. */
export function formatFactor(factor: number): string {
  if (factor < 10) {
    let text = factor.toFixed(1);
    if (text === '1.0') {
      text = factor.toFixed(2);
    }
    if (text !== '10.0') {
      return text;
    }
  }
  return withThousands(factor);
}

/**
 * "3.2× faster", "140× slower" or "≈ same"; empty without a ratio to show. `speedup` is the
 * current runtime ÷ the candidate's (over the tests both pass); `tie`: within measurement noise.
 * The server sends this text as `ratioText`; the views show that, and use this only for figures
 * the server does not word itself.
 */
export function formatRatio(speedup: number | null, tie: boolean): string {
  if (tie) {
    return TIE_TEXT;
  }
  if (speedup === null || !Number.isFinite(speedup) || speedup <= 0) {
    return '';
  }
  return speedup >= 1 ? `${formatFactor(speedup)}× faster` : `${formatFactor(1 / speedup)}× slower`;
}

/** ± noise of a runtime, e.g. "± 12.3 µs"; empty when unknown. */
export function formatNoise(ns: number | null): string {
  return ns === null || !Number.isFinite(ns) || ns <= 0 ? '' : `± ${formatRuntime(ns)}`;
}

export function formatTests(passed: number, total: number): string {
  return `${passed}/${total} tests`;
}

/** The one-line reason a search stopped, for people. */
export function describeStop(stopped: string | null): string {
  switch (stopped) {
    case null:
      return '';
    case 'completed':
      return 'search completed';
    case 'budget':
      return 'stopped at the call budget';
    case 'cancelled':
      return 'cancelled';
    case 'model_error':
      return 'stopped by a model error';
    case 'error':
      return 'the search could not start';
    case 'retested':
      return 're-run against the changed tests';
    case 'restored':
      return 'restored after a server restart';
    case 'interrupted':
      return 'interrupted: the server stopped';
    case 'accepted':
      return 'candidate accepted';
    default:
      return `stopped: ${stopped}`;
  }
}
