/**
 * The orps language server's custom protocol, as typed records (docs/protocol.md).
 *
 * Only plain data lives here: the names of the server's commands and notifications and the
 * shapes of their payloads, so every other module can use them without importing `vscode`.
 */

/** Commands the server registers (`workspace/executeCommand`). The language client turns each
 * into a VS Code command of the same name, so the extension's own commands use other names. */
export const ServerCommand = {
  refine: 'orps.refine',
  cancel: 'orps.cancel',
  accept: 'orps.accept',
  showCandidates: 'orps.showCandidates',
} as const;

export const CANDIDATES_NOTIFICATION = 'orps/candidates';
export const CANDIDATES_REQUEST = 'orps/candidates';
export const STATUS_NOTIFICATION = 'orps/status';
export const RESTORE_REQUEST = 'orps/restore';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface SearchProgress {
  round: number;
  rounds: number;
  llmCalls: number;
  maxCalls: number;
  candidates: number;
  message: string;
}

export interface Candidate {
  id: string;
  rank: number;
  code: string;
  reasoning: string;
  testsPassed: number;
  testsTotal: number;
  runtimeNs: number | null;
  runtimeNoiseNs: number | null;
  peakMemoryBytes: number | null;
  score: number;
  processScore: number;
  outcomeScore: number;
  round: number;
  status: string;
  failures: string[];
  speedupVsCurrent: number | null;
  /** "current" for the current implementation's row, else the candidate's origin (may be ""). */
  origin: string;
  /** Tests both this candidate and the current code pass (0 with a stub). */
  comparedTests: number;
  /** Sum of per-test median runtimes over the compared tests: this candidate's, the current code's. */
  runtimeComparedNs: number | null;
  currentRuntimeComparedNs: number | null;
  /** currentRuntimeComparedNs ÷ runtimeComparedNs; null without a baseline, a compared test, or
   * when this candidate fails a test the current code passes. */
  speedup: number | null;
  /** The two compared runtimes are within measurement noise. */
  tie: boolean;
  /** The server's wording of the comparison ("3.2× faster", "≈ same", "" without a baseline). */
  ratioText: string;
  /** The one candidate the views recommend (at most one per payload). */
  preferred: boolean;
  /** Fails at least one test the current code passes. */
  failsCurrentTests: boolean;
  /** Runtimes at growing input scales and their log-log slope (docs/protocol.md). */
  scaling?: { scale: number; runtimeNs: number }[];
  growth?: number | null;
}

export type Baseline = 'current' | 'none';

export interface CandidatesPayload {
  uri: string;
  name: string;
  range: Range;
  version: number | null;
  searchId: string;
  running: boolean;
  stopped: string | null;
  progress: SearchProgress | null;
  model: string;
  testsTotal: number;
  testSources: string[];
  currentCode: string;
  current: Candidate | null;
  candidates: Candidate[];
  /** "current" when the current code is the yardstick, "none" for a stub. */
  baseline: Baseline;
  /** One line for every view: which candidate is best, or that the current code stays best. */
  verdict: string;
  /** Why there are no candidates (replies without code, duplicates, cache replay, ...). */
  emptyReason: string | null;
  /** Why runtimes at scale are missing, when they are. */
  scaleNote?: string | null;
}

export interface RunningSearch {
  uri: string;
  name: string;
  searchId: string;
}

/** How candidates are confined: `refused` when bubblewrap is installed but cannot run. */
export interface IsolationStatus {
  kind: 'bubblewrap' | 'rlimits' | 'refused' | 'checking' | string;
  choice: string;
  description: string;
  reasons: string[];
}

export interface StatusPayload {
  model: string;
  running: RunningSearch[];
  isolation?: IsolationStatus;
  /** A short note when the server reloaded its settings live. */
  settingsApplied: string | null;
}

export interface RefineArguments {
  uri: string;
  version: number | null;
  position: Position;
}

export interface FunctionRef {
  uri: string;
  name: string;
}

export interface AcceptArguments extends FunctionRef {
  candidateId: string;
  /** The user confirmed accepting a candidate that fails tests. */
  confirmed?: boolean;
}

/** `orps.accept`'s answer when the candidate fails tests and was not confirmed. */
export interface NeedsConfirmation {
  needsConfirmation: true;
  message: string;
}

export type AcceptResult = { kind: 'applied' } | { kind: 'not-applied' } | { kind: 'confirm'; message: string };

/** Reads `orps.accept`'s result: true, false (or null from older servers), or a question. */
export function readAcceptResult(raw: unknown): AcceptResult {
  if (raw === true) {
    return { kind: 'applied' };
  }
  if (typeof raw === 'object' && raw !== null && (raw as Partial<NeedsConfirmation>).needsConfirmation === true) {
    const message = (raw as Partial<NeedsConfirmation>).message;
    return { kind: 'confirm', message: typeof message === 'string' && message ? message : 'This candidate fails tests. Accept anyway?' };
  }
  return { kind: 'not-applied' };
}

export interface RestoreParams {
  payloads: CandidatesPayload[];
}

/** The key under which a function's candidates are stored on the client. */
export function functionKey(ref: FunctionRef): string {
  return `${ref.uri}#${ref.name}`;
}

/** Reads a payload defensively: the server is another process, and a malformed notification must
 * not break the views. Missing lists become empty, missing numbers null. */
export function normalisePayload(raw: unknown): CandidatesPayload | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const p = raw as Partial<CandidatesPayload>;
  if (typeof p.uri !== 'string' || typeof p.name !== 'string') {
    return undefined;
  }
  const zero: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return {
    // Fields this version does not know are kept, so `orps/restore` hands them back unchanged.
    ...(raw as object),
    uri: p.uri,
    name: p.name,
    range: p.range ?? zero,
    version: p.version ?? null,
    searchId: p.searchId ?? '',
    running: Boolean(p.running),
    stopped: p.stopped ?? null,
    progress: p.progress ?? null,
    model: p.model ?? '',
    testsTotal: p.testsTotal ?? 0,
    testSources: Array.isArray(p.testSources) ? p.testSources : [],
    currentCode: p.currentCode ?? '',
    current: p.current ? normaliseCandidate(p.current) : null,
    candidates: Array.isArray(p.candidates) ? p.candidates.map(normaliseCandidate) : [],
    baseline: p.baseline === 'none' ? 'none' : p.current ? 'current' : 'none',
    verdict: typeof p.verdict === 'string' ? p.verdict : '',
    emptyReason: typeof p.emptyReason === 'string' && p.emptyReason ? p.emptyReason : null,
    scaleNote: typeof p.scaleNote === 'string' ? p.scaleNote : null,
  };
}

function normaliseCandidate(raw: Partial<Candidate>): Candidate {
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    ...raw,
    id: String(raw.id ?? ''),
    rank: num(raw.rank) ?? 0,
    code: raw.code ?? '',
    reasoning: raw.reasoning ?? '',
    testsPassed: num(raw.testsPassed) ?? 0,
    testsTotal: num(raw.testsTotal) ?? 0,
    runtimeNs: num(raw.runtimeNs),
    runtimeNoiseNs: num(raw.runtimeNoiseNs),
    peakMemoryBytes: num(raw.peakMemoryBytes),
    score: num(raw.score) ?? 0,
    processScore: num(raw.processScore) ?? 0,
    outcomeScore: num(raw.outcomeScore) ?? 0,
    round: num(raw.round) ?? 0,
    status: raw.status ?? '',
    failures: Array.isArray(raw.failures) ? raw.failures.map(String) : [],
    speedupVsCurrent: num(raw.speedupVsCurrent),
    origin: typeof raw.origin === 'string' ? raw.origin : '',
    comparedTests: num(raw.comparedTests) ?? 0,
    runtimeComparedNs: num(raw.runtimeComparedNs),
    currentRuntimeComparedNs: num(raw.currentRuntimeComparedNs),
    speedup: num(raw.speedup),
    tie: raw.tie === true,
    ratioText: typeof raw.ratioText === 'string' ? raw.ratioText : '',
    preferred: raw.preferred === true,
    failsCurrentTests: raw.failsCurrentTests === true,
    scaling: Array.isArray(raw.scaling) ? raw.scaling : [],
    growth: num(raw.growth),
  };
}

export function normaliseStatus(raw: unknown): StatusPayload {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<StatusPayload>;
  return {
    model: typeof s.model === 'string' ? s.model : '',
    running: Array.isArray(s.running) ? s.running.filter((r) => r && typeof r.uri === 'string') : [],
    isolation: normaliseIsolation(s.isolation),
    settingsApplied: typeof s.settingsApplied === 'string' && s.settingsApplied ? s.settingsApplied : null,
  };
}

function normaliseIsolation(raw: unknown): IsolationStatus | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const i = raw as Partial<IsolationStatus>;
  if (typeof i.kind !== 'string') {
    return undefined;
  }
  return {
    kind: i.kind,
    choice: typeof i.choice === 'string' ? i.choice : '',
    description: typeof i.description === 'string' ? i.description : '',
    reasons: Array.isArray(i.reasons) ? i.reasons.map(String) : [],
  };
}
