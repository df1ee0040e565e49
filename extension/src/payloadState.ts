/**
 * How a stored `CandidatesPayload` moves on when something happens on the client's side: a
 * candidate was accepted (it becomes the current code), the server stopped mid-search, or the
 * server took the results back after a restart (`orps/restore`).
 *
 * Pure functions over the wire records: the figures stay exactly as the server measured them.
 */

import { Candidate, CandidatesPayload } from './protocol';

/** The payload after `candidateId` was accepted, as the server words it too: that code is now the
 * current one (measured as it was), and the other candidates lose their comparison (it was with
 * the replaced code) and any "preferred" until a new Refine measures them against it. */
export function acceptedPayload(
  payload: CandidatesPayload,
  candidateId: string,
): { payload: CandidatesPayload; notice: string } | undefined {
  const accepted = payload.candidates.find((c) => c.id === candidateId);
  if (!accepted) {
    return undefined;
  }
  const current: Candidate = {
    ...accepted,
    origin: 'current',
    rank: 0,
    preferred: false,
    speedup: null,
    speedupVsCurrent: null,
    tie: false,
    ratioText: '',
    failsCurrentTests: false,
    comparedTests: 0,
    runtimeComparedNs: null,
    currentRuntimeComparedNs: null,
  };
  const than = accepted.tie
    ? ', within noise of the code it replaced'
    : accepted.ratioText
      ? `, ${accepted.ratioText} than the code it replaced`
      : '';
  return {
    payload: {
      ...payload,
      running: false,
      stopped: 'accepted',
      progress: null,
      currentCode: accepted.code,
      current,
      candidates: payload.candidates
        .filter((c) => c.id !== candidateId)
        .map((c, i) => ({ ...c, rank: i + 1, preferred: false, speedup: null, speedupVsCurrent: null, tie: false, ratioText: '' })),
      baseline: 'current',
      verdict: `#${accepted.rank} was accepted and is now the current code (${accepted.testsPassed}/${accepted.testsTotal} tests${than}); refine again to compare the other candidates with it`,
      emptyReason: null,
    },
    notice: `Accepted #${accepted.rank}: the function in the editor now has its body.`,
  };
}

/** The payload of a search that was running when the server stopped. */
export function interruptedPayload(payload: CandidatesPayload): CandidatesPayload {
  return { ...payload, running: false, stopped: 'interrupted' };
}

/** The payload as the server stores it again after `orps/restore`. */
export function restoredPayload(payload: CandidatesPayload): CandidatesPayload {
  return { ...payload, running: false, stopped: 'restored' };
}

/** What `orps/restore` sends: the payload as the server last described it, no longer running. */
export function toWirePayload(payload: CandidatesPayload): CandidatesPayload {
  return payload.running ? interruptedPayload(payload) : payload;
}
