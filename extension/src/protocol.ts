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
  /** Runtimes at growing input scales and their log-log slope (docs/protocol.md). */
  scaling?: { scale: number; runtimeNs: number }[];
  growth?: number | null;
}

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
  /** Why runtimes at scale are missing, when they are. */
  scaleNote?: string | null;
}

export interface RunningSearch {
  uri: string;
  name: string;
  searchId: string;
}

export interface StatusPayload {
  model: string;
  running: RunningSearch[];
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
    scaleNote: typeof p.scaleNote === 'string' ? p.scaleNote : null,
  };
}

function normaliseCandidate(raw: Partial<Candidate>): Candidate {
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
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
    scaling: Array.isArray(raw.scaling) ? raw.scaling : [],
    growth: num(raw.growth),
  };
}

export function normaliseStatus(raw: unknown): StatusPayload {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<StatusPayload>;
  return {
    model: typeof s.model === 'string' ? s.model : '',
    running: Array.isArray(s.running) ? s.running.filter((r) => r && typeof r.uri === 'string') : [],
  };
}
