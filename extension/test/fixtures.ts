/**
 * Payloads as the server sends them (docs/protocol.md), for the unit tests: a current `fib`
 * passing 5/5, a preferred candidate 4× faster on the 5 tests both pass, and one that fails a
 * test the current code passes (no speed-up then).
 */

import { Candidate, CandidatesPayload } from '../src/protocol';

export const DOC_URI = 'file:///ws/fib.py';

export const CURRENT_CODE = `def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
`;

export const FAST_CODE = `def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
`;

export function candidate(overrides: Partial<Candidate>): Candidate {
  return {
    id: 'c1',
    rank: 1,
    code: FAST_CODE,
    reasoning: '## Reasoning\nIterate instead of recursing.',
    testsPassed: 5,
    testsTotal: 5,
    runtimeNs: 1_000_000,
    runtimeNoiseNs: 10_000,
    peakMemoryBytes: 2 * 1024 * 1024,
    score: 0.9,
    processScore: 0.8,
    outcomeScore: 1,
    round: 1,
    status: 'passed',
    failures: [],
    speedupVsCurrent: 4,
    origin: 'refine',
    comparedTests: 5,
    runtimeComparedNs: 5_000_000,
    currentRuntimeComparedNs: 20_000_000,
    speedup: 4,
    tie: false,
    ratioText: '4.0× faster',
    preferred: true,
    failsCurrentTests: false,
    ...overrides,
  };
}

export function payload(overrides: Partial<CandidatesPayload> = {}): CandidatesPayload {
  return {
    uri: DOC_URI,
    name: 'fib',
    range: { start: { line: 0, character: 0 }, end: { line: 3, character: 34 } },
    version: 1,
    searchId: 's1',
    running: false,
    stopped: 'completed',
    progress: null,
    model: 'scripted',
    testsTotal: 5,
    testSources: ['test_fib.py'],
    currentCode: CURRENT_CODE,
    current: candidate({
      id: 'current',
      rank: 0,
      code: CURRENT_CODE,
      runtimeNs: 4_000_000,
      peakMemoryBytes: 2 * 1024 * 1024,
      speedupVsCurrent: 1,
      reasoning: '',
      origin: 'current',
      comparedTests: 0,
      runtimeComparedNs: null,
      currentRuntimeComparedNs: null,
      speedup: null,
      ratioText: '',
      preferred: false,
    }),
    candidates: [
      candidate({}),
      candidate({
        id: 'c2',
        rank: 2,
        code: CURRENT_CODE.replace('n < 2', 'n <= 1'),
        runtimeNs: 8_000_000,
        peakMemoryBytes: 3 * 1024 * 1024,
        testsPassed: 4,
        speedupVsCurrent: 0.5,
        failures: ['test_fib_big: timeout'],
        status: 'failed',
        comparedTests: 4,
        runtimeComparedNs: 32_000_000,
        currentRuntimeComparedNs: 16_000_000,
        speedup: null,
        ratioText: '',
        preferred: false,
        failsCurrentTests: true,
      }),
    ],
    baseline: 'current',
    verdict: '#1 is 4.0× faster than the current code',
    emptyReason: null,
    ...overrides,
  };
}
