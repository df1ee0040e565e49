/**
 * How measured figures are written for people: runtimes, memory, speed-ups and test counts.
 *
 * The panel, the quick pick and the status bar all use these, so a number reads the same
 * everywhere.
 */

/** Three significant figures, without trailing zeros past the point. */
function significant(value: number): string {
  if (value >= 100) {
    return value.toFixed(0);
  }
  if (value >= 10) {
    return value.toFixed(1).replace(/\.0$/, '');
  }
  return value.toFixed(2).replace(/0$/, '').replace(/\.0$/, '');
}

export function formatRuntime(ns: number | null): string {
  if (ns === null || !Number.isFinite(ns)) {
    return '—';
  }
  if (ns < 1e3) {
    return `${significant(ns)} ns`;
  }
  if (ns < 1e6) {
    return `${significant(ns / 1e3)} µs`;
  }
  if (ns < 1e9) {
    return `${significant(ns / 1e6)} ms`;
  }
  return `${significant(ns / 1e9)} s`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) {
    return '—';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value.toFixed(0) : significant(value)} ${units[unit]}`;
}

/** "3.4× faster", "2× slower", "same speed"; speedup is current runtime ÷ candidate runtime. */
export function formatSpeedup(speedup: number | null): string {
  if (speedup === null || !Number.isFinite(speedup) || speedup <= 0) {
    return '';
  }
  if (Math.abs(speedup - 1) < 0.005) {
    return 'same speed';
  }
  if (speedup > 1) {
    return `${significant(speedup)}× faster`;
  }
  return `${significant(1 / speedup)}× slower`;
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
    case 'retested':
      return 're-run against the changed tests';
    default:
      return `stopped: ${stopped}`;
  }
}
