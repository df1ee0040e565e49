/**
 * The comparison panel: one webview showing a function's ranked candidates side by side, kept up
 * to date as `orps/candidates` notifications arrive, with an Accept button per candidate.
 */

import { CandidateStore } from './candidateStore';
import { Disposable, Host, PanelMessage, WebviewPanelHandle } from './host';
import { renderBody, renderShell, makeNonce } from './panelHtml';
import { buildPanelModel } from './panelModel';
import { CandidatesPayload, FunctionRef, functionKey } from './protocol';
import { scalingCard } from './scalingChart';

export interface PanelActions {
  accept(ref: FunctionRef, candidateId: string): Promise<boolean>;
  cancel(ref: FunctionRef): Promise<void>;
}

/** The panel's cards, then the runtime-against-scale chart (empty when nothing was measured). */
function panelBody(payload: CandidatesPayload, notice = ''): string {
  return renderBody(buildPanelModel(payload, notice)) + scalingCard(payload);
}

export class ComparisonPanel implements Disposable {
  private panel: WebviewPanelHandle | undefined;
  private target: FunctionRef | undefined;
  /** A document whose next payload opens the panel (a refine was just sent for it). */
  private pendingUri: string | undefined;
  private readonly subscriptions: Disposable[] = [];

  constructor(
    private readonly host: Host,
    private readonly store: CandidateStore,
    private readonly actions: PanelActions,
  ) {
    this.subscriptions.push(this.store.onChange((payload) => this.onPayload(payload)));
  }

  get shownFunction(): FunctionRef | undefined {
    return this.panel ? this.target : undefined;
  }

  /** Opens the panel on the next payload for this document. */
  expect(uri: string): void {
    this.pendingUri = uri;
  }

  show(payload: CandidatesPayload): void {
    this.target = { uri: payload.uri, name: payload.name };
    const title = `ORPS: ${payload.name}`;
    if (!this.panel) {
      const panel = this.host.createPanel(title);
      this.panel = panel;
      const nonce = makeNonce((n) => this.host.randomBytes(n));
      panel.setHtml(renderShell(panelBody(payload, this.store.notice(payload)), nonce, panel.cspSource, title));
      panel.onMessage((message) => void this.onMessage(message));
      panel.onDispose(() => {
        if (this.panel === panel) {
          this.panel = undefined;
        }
      });
    } else {
      this.panel.setTitle(title);
      this.render(payload);
      this.panel.reveal();
    }
  }

  private render(payload: CandidatesPayload): void {
    void this.panel?.postMessage({ type: 'render', html: panelBody(payload, this.store.notice(payload)) });
  }

  private onPayload(payload: CandidatesPayload): void {
    if (this.pendingUri === payload.uri) {
      this.pendingUri = undefined;
      this.show(payload);
      return;
    }
    if (this.panel && this.target && functionKey(this.target) === functionKey(payload)) {
      this.render(payload);
    }
  }

  private async onMessage(message: PanelMessage): Promise<void> {
    const target = this.target;
    if (!target) {
      return;
    }
    if (message.type === 'accept') {
      await this.actions.accept(target, message.candidateId);
      // Re-render: after an accept the accepted code is the current one and the old buttons are
      // gone; when nothing was applied, the buttons come back enabled.
      const payload = this.store.get(target);
      if (payload) {
        this.render(payload);
      }
    } else if (message.type === 'cancel') {
      await this.actions.cancel(target);
    } else if (message.type === 'ready') {
      const payload = this.store.get(target);
      if (payload) {
        this.render(payload);
      }
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
    this.panel?.dispose();
    this.panel = undefined;
  }
}
