/**
 * The client's copy of each function's latest `CandidatesPayload`, fed by `orps/candidates`
 * notifications and by the results of `orps.refine` and `orps.showCandidates`.
 *
 * A second refine of a function cancels the first on the server, and the first search's last
 * words can arrive after the second one's first: payloads of a superseded search are dropped.
 */

import { CandidatesPayload, FunctionRef, functionKey } from './protocol';

type Listener = (payload: CandidatesPayload) => void;

export class CandidateStore {
  private readonly payloads = new Map<string, CandidatesPayload>();
  private readonly retired = new Set<string>();
  private readonly listeners = new Set<Listener>();
  private order: string[] = [];

  /** Stores the payload; false when it belongs to a superseded search. */
  update(payload: CandidatesPayload): boolean {
    if (payload.searchId && this.retired.has(payload.searchId)) {
      return false;
    }
    const key = functionKey(payload);
    const previous = this.payloads.get(key);
    if (previous && previous.searchId && previous.searchId !== payload.searchId) {
      this.retired.add(previous.searchId);
    }
    this.payloads.set(key, payload);
    this.order = [...this.order.filter((k) => k !== key), key];
    for (const listener of [...this.listeners]) {
      listener(payload);
    }
    return true;
  }

  get(ref: FunctionRef): CandidatesPayload | undefined {
    return this.payloads.get(functionKey(ref));
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
    this.order = [];
  }
}
