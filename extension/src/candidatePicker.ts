/**
 * `ORPS: Show Candidates`: a quick pick of a function's candidates with their figures; the
 * highlighted one is previewed as a diff against the current code, and Enter accepts it.
 */

import { CandidateStore } from './candidateStore';
import { Disposable, Host, QuickPickHandle } from './host';
import {
  CANDIDATE_SCHEME,
  candidateDocumentText,
  candidateDocumentUri,
  parseCandidateDocumentUri,
  pickItems,
  pickTitle,
} from './pickItems';
import { CandidatesPayload, FunctionRef, functionKey } from './protocol';

export class CandidatePicker implements Disposable {
  private readonly subscriptions: Disposable[] = [];
  private open: { ref: FunctionRef; handle: QuickPickHandle } | undefined;

  constructor(
    private readonly host: Host,
    private readonly store: CandidateStore,
    private readonly accept: (ref: FunctionRef, candidateId: string) => Promise<boolean>,
  ) {
    this.subscriptions.push(
      host.registerVirtualDocuments(CANDIDATE_SCHEME, (uri) => this.provide(uri)),
      store.onChange((payload) => this.onPayload(payload)),
    );
  }

  provide(uri: string): string | undefined {
    const parsed = parseCandidateDocumentUri(uri);
    if (!parsed) {
      return undefined;
    }
    const payload = this.store.get({ uri: parsed.documentUri, name: parsed.name });
    return payload ? candidateDocumentText(payload, parsed.id) : undefined;
  }

  show(payload: CandidatesPayload): void {
    const ref: FunctionRef = { uri: payload.uri, name: payload.name };
    this.open?.handle.dispose();
    const handle = this.host.showQuickPick({
      title: pickTitle(payload, this.store.notice(ref)),
      placeholder: 'Highlight a candidate to preview its diff; Enter accepts it',
      items: pickItems(payload),
      onActive: (item) => {
        if (item.id) {
          void this.preview(ref, item.id);
        }
      },
      onAccept: (item) => {
        if (item.id) {
          handle.hide();
          void this.accept(ref, item.id);
        }
      },
      onHide: () => {
        if (this.open?.handle === handle) {
          this.open = undefined;
        }
      },
    });
    this.open = { ref, handle };
  }

  async preview(ref: FunctionRef, candidateId: string): Promise<void> {
    const payload = this.store.get(ref);
    const candidate = payload?.candidates.find((c) => c.id === candidateId);
    if (!payload || !candidate) {
      return;
    }
    await this.host.showDiff(
      candidateDocumentUri(ref.uri, ref.name, 'current'),
      candidateDocumentUri(ref.uri, ref.name, candidateId),
      `${ref.name}: current ↔ #${candidate.rank}`,
    );
  }

  private onPayload(payload: CandidatesPayload): void {
    if (this.open && functionKey(this.open.ref) === functionKey(payload)) {
      this.open.handle.setTitle(pickTitle(payload, this.store.notice(payload)));
      this.open.handle.setItems(pickItems(payload));
    }
  }

  /** Hides the pick and closes the diff previews (after an accept they show stale code). */
  async closePreviews(): Promise<void> {
    this.open?.handle.hide();
    await this.host.closeTabsOf(CANDIDATE_SCHEME);
  }

  dispose(): void {
    this.open?.handle.dispose();
    for (const s of this.subscriptions) {
      s.dispose();
    }
  }
}
