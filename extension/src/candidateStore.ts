/**
 * The client's copy of each function's latest `CandidatesPayload`, fed by `orps/candidates`
 * notifications and by the results of `orps.refine` and `orps.showCandidates`, with a note per
 * function from the extension itself (a restart restored it, an accept made a candidate current).
 *
 * A second refine of a function cancels the first on the server, and the first search's last
 * words can arrive after the second one's first: payloads of a superseded search are dropped.
 * One exception: when the user cancels a re-run before any candidate ran, the server re-sends the
 * previous result (possibly under its own, older search id), and that one is kept.
 */

import { CandidatesPayload, FunctionRef, functionKey } from './protocol';

type Listener = (payload: CandidatesPayload) => void;

export class CandidateStore {
  private readonly payloads = new Map<string, CandidatesPayload>();
  private readonly notices = new Map<string, string>();
  private readonly retired = new Set<string>();
  private readonly cancelRequested = new Set<string>();
  private readonly listeners = new Set<Listener>();
  private order: string[] = [];

  /** Stores the payload; false when it belongs to a superseded search. */
  update(payload: CandidatesPayload, notice?: string): boolean {
    const key = functionKey(payload);
    const previous = this.payloads.get(key);
    if (payload.searchId && this.retired.has(payload.searchId)) {
      const keptAfterCancel = this.cancelRequested.has(key) && !payload.running && payload.stopped === 'cancelled';
      if (!keptAfterCancel) {
        return false;
      }
      this.retired.delete(payload.searchId);
    }
    if (previous && previous.searchId && previous.searchId !== payload.searchId) {
      this.retired.add(previous.searchId);
    }
    if (!payload.running) {
      this.cancelRequested.delete(key);
    }
    if (notice !== undefined) {
      this.notices.set(key, notice);
    } else if (previous?.searchId !== payload.searchId) {
      this.notices.delete(key);
    }
    this.payloads.set(key, payload);
    this.order = [...this.order.filter((k) => k !== key), key];
    for (const listener of [...this.listeners]) {
      listener(payload);
    }
    return true;
  }

  /** The user asked to cancel this function's search (or every search, without a ref). */
  markCancelled(ref: FunctionRef | undefined): void {
    for (const payload of this.payloads.values()) {
      if (payload.running && (!ref || functionKey(ref) === functionKey(payload))) {
        this.cancelRequested.add(functionKey(payload));
      }
    }
  }

  get(ref: FunctionRef): CandidatesPayload | undefined {
    return this.payloads.get(functionKey(ref));
  }

  notice(ref: FunctionRef): string {
    return this.notices.get(functionKey(ref)) ?? '';
  }

  /** Every stored payload, least recently updated first. */
  all(): CandidatesPayload[] {
    return this.order.map((k) => this.payloads.get(k)).filter((p): p is CandidatesPayload => p !== undefined);
  }

  /** The most recently updated function of a document. */
  latestForUri(uri: string): CandidatesPayload | undefined {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const payload = this.payloads.get(this.order[i]);
      if (payload && payload.uri === uri) {
        return payload;
      }
    }
    return undefined;
  }

  latest(): CandidatesPayload | undefined {
    const key = this.order[this.order.length - 1];
    return key === undefined ? undefined : this.payloads.get(key);
  }

  onChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  clear(): void {
    this.payloads.clear();
    this.notices.clear();
    this.order = [];
  }
}
