/**
 * The extension's behaviour, independent of VS Code: commands, the server's notifications, the
 * comparison panel, the quick pick and the status bar item, over a `Host`.
 *
 * `extension.ts` builds it with the real host; the tests build it with a stub.
 */

import { Acceptance } from './acceptance';
import { CandidatePicker } from './candidatePicker';
import { CandidateStore } from './candidateStore';
import { ComparisonPanel } from './comparisonPanel';
import { Disposable, Host, LspClient, StatusItem } from './host';
import {
  AcceptArguments,
  CANDIDATES_NOTIFICATION,
  CANDIDATES_REQUEST,
  CandidatesPayload,
  FunctionRef,
  normalisePayload,
  normaliseStatus,
  RefineArguments,
  RESTORE_REQUEST,
  RestoreParams,
  ServerCommand,
  STATUS_NOTIFICATION,
  StatusPayload,
} from './protocol';
import { interruptedPayload, restoredPayload, toWirePayload } from './payloadState';
import { API_KEY_SECRET, ServerManager } from './serverManager';
import { LIVE_SETTINGS, RESTART_SETTINGS, SECTION, toInitializationOptions } from './settings';
import { Commands, ServerState, statusView } from './statusView';

const RESTART_DELAY_MS = 300;

export class OrpsController implements Disposable {
  readonly store = new CandidateStore();
  readonly server: ServerManager;
  readonly panel: ComparisonPanel;
  readonly picker: CandidatePicker;
  private readonly acceptance: Acceptance;
  private readonly statusItem: StatusItem;
  private status: StatusPayload | undefined;
  private readonly disposables: Disposable[] = [];
  private restartTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: Host) {
    this.server = new ServerManager(host, {
      attach: (client) => this.attach(client),
      started: (client) => this.restore(client),
      onServerCommand: (command, args, next) => this.onServerCommand(command, args, next),
      onStateChanged: (state) => this.onServerState(state),
    });
    this.panel = new ComparisonPanel(host, this.store, {
      accept: (ref, id) => this.accept(ref, id),
      cancel: (ref) => this.cancel(ref),
    });
    this.picker = new CandidatePicker(host, this.store, (ref, id) => this.accept(ref, id));
    this.acceptance = new Acceptance(host, this.store, () => this.picker.closePreviews());
    this.statusItem = host.createStatusItem();
    this.disposables.push(this.panel, this.picker, this.statusItem);
    this.store.onChange(() => this.updateStatus());
  }

  /** Registers the commands and listeners, and starts the server. */
  activate(): Promise<void> {
    const h = this.host;
    this.disposables.push(
      h.registerCommand(Commands.refineAtCursor, () => this.refineAtCursor()),
      h.registerCommand(Commands.pickCandidate, () => this.pickCandidate()),
      h.registerCommand(Commands.openComparison, () => this.openComparison()),
      h.registerCommand(Commands.cancelSearches, () => this.cancel(undefined)),
      h.registerCommand(Commands.setApiKey, () => this.setApiKey()),
      h.registerCommand(Commands.clearApiKey, () => this.clearApiKey()),
      h.registerCommand(Commands.restartServer, () => this.server.restart('ORPS: Restart Server')),
      h.registerCommand(Commands.installServer, () => this.server.install()),
      h.registerCommand(Commands.showLog, () => h.log.show()),
      h.onSettingsChanged((affects) => {
        if (RESTART_SETTINGS.some((s) => affects(s))) {
          this.scheduleRestart('settings changed');
        } else if (LIVE_SETTINGS.some((s) => affects(s))) {
          void this.applySettingsLive();
        }
      }),
      h.onPythonInterpreterChanged(() => {
        if (!h.getSetting<string>('server.interpreter')) {
          this.scheduleRestart('the Python interpreter changed');
        }
      }),
    );
    this.updateStatus();
    return this.server.restart('activation');
  }

  scheduleRestart(reason: string): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.server.restart(reason);
    }, RESTART_DELAY_MS);
  }

  /** Server settings change live: the server re-reads them on `workspace/didChangeConfiguration`
   * (stored results, lenses and running searches stay). */
  private async applySettingsLive(): Promise<void> {
    const client = this.server.current;
    if (!client) {
      return;
    }
    const settings = toInitializationOptions((key) => this.host.getSetting(key));
    this.host.log.info(`Settings changed: sent to the running server (no restart): ${JSON.stringify(settings)}`);
    try {
      await client.sendNotification('workspace/didChangeConfiguration', { settings: { [SECTION]: settings } });
    } catch (err) {
      this.host.log.warn(`workspace/didChangeConfiguration failed: ${String(err)}`);
    }
  }

  /** After a (re)start: hands the server the results the extension holds, so lenses, hovers,
   * code actions and Accept work again; the panel says what happened. */
  private async restore(client: LspClient): Promise<void> {
    const payloads = this.store.all();
    if (payloads.length === 0) {
      return;
    }
    const params: RestoreParams = { payloads: payloads.map(toWirePayload) };
    let stored: number | null = null;
    let error = '';
    try {
      const result = await client.sendRequest<unknown>(RESTORE_REQUEST, params);
      stored = typeof result === 'number' ? result : null;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    this.host.log.info(`${RESTORE_REQUEST}: ${payloads.length} sent, ${stored ?? 'none'} stored${error ? ` (${error})` : ''}`);
    for (const payload of payloads) {
      const restored = stored !== null && stored > 0;
      const notice = restored
        ? 'The orps server restarted; these results were restored from the extension. Accept works again; re-run Refine to measure against changed code or tests.'
        : `The orps server restarted and could not take these results back${error ? ` (${error})` : ''}: they are shown as measured, but Accept needs a new Refine.`;
      this.store.update(restored ? restoredPayload(payload) : payload, notice);
    }
  }

  private attach(client: LspClient): Disposable[] {
    return [
      client.onNotification(CANDIDATES_NOTIFICATION, (params) => {
        const payload = normalisePayload(params);
        if (payload) {
          this.store.update(payload);
        } else {
          this.host.log.warn(`Ignored a malformed ${CANDIDATES_NOTIFICATION} notification.`);
        }
      }),
      client.onNotification(STATUS_NOTIFICATION, (params) => {
        this.status = normaliseStatus(params);
        this.updateStatus();
      }),
    ];
  }

  private onServerState(state: ServerState): void {
    if (state !== 'running') {
      this.status = undefined;
    }
    if (state === 'stopped' || state === 'failed') {
      // Searches die with the server: say so instead of leaving them "running".
      for (const payload of this.store.all()) {
        if (payload.running) {
          this.store.update(
            interruptedPayload(payload),
            'The orps server stopped during this search; the candidates tested so far are kept.',
          );
        }
      }
    }
    this.updateStatus();
  }

  private updateStatus(): void {
    const view = statusView(
      this.server.serverState,
      this.status,
      this.host.getSetting<string>('model') ?? '',
      (ref) => this.store.get(ref),
    );
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.command = view.command;
    this.statusItem.show();
  }

  /** Runs the server's own commands for code lenses and code actions, drawing the views. */
  private async onServerCommand(command: string, args: unknown[], next: () => Promise<unknown>): Promise<unknown> {
    if (command === ServerCommand.showCandidates) {
      const result = normalisePayload(await next());
      const ref = args[0] as Partial<FunctionRef> | undefined;
      const payload = result ?? (ref?.uri && ref.name ? this.store.get(ref as FunctionRef) : undefined);
      if (payload) {
        this.store.update(payload);
        this.panel.show(payload);
      } else {
        void this.host.showInfo('No candidates for this function yet.');
      }
      return result;
    }
    if (command === ServerCommand.accept) {
      // Through the same path as the panel's Accept: a failing candidate is confirmed first,
      // and every view moves on after it.
      const acceptArgs = args[0] as Partial<AcceptArguments> | undefined;
      if (acceptArgs?.uri && acceptArgs.name && acceptArgs.candidateId && acceptArgs.confirmed === undefined) {
        return this.accept({ uri: acceptArgs.uri, name: acceptArgs.name }, acceptArgs.candidateId);
      }
      return next();
    }
    if (command === ServerCommand.refine) {
      const refineArgs = args[0] as Partial<RefineArguments> | undefined;
      if (refineArgs?.uri) {
        this.panel.expect(refineArgs.uri);
      }
      return this.finishRefine(next());
    }
    return next();
  }

  /** The running client; during a (re)start it waits for it, so a Refine then is not refused. */
  private async requireClient(): Promise<LspClient | undefined> {
    const client = this.server.current ?? (this.server.busy ? await this.server.ready() : undefined);
    if (!client) {
      void this.host
        .showError('The orps server is not running.', 'Restart Server', 'Show Log')
        .then((choice) => {
          if (choice === 'Restart Server') {
            void this.server.restart('requested after a failure');
          } else if (choice === 'Show Log') {
            this.host.log.show();
          }
        });
    }
    return client;
  }

  async refineAtCursor(): Promise<CandidatesPayload | undefined> {
    const editor = this.host.activeEditor();
    if (!editor || editor.languageId !== 'python') {
      void this.host.showWarning('Place the cursor in a Python function to refine it.');
      return undefined;
    }
    const client = await this.requireClient();
    if (!client) {
      return undefined;
    }
    const args: RefineArguments = {
      uri: editor.uri,
      version: editor.version,
      position: { line: editor.line, character: editor.character },
    };
    this.panel.expect(editor.uri);
    this.host.log.info(`Refining at ${editor.uri}:${editor.line + 1}:${editor.character + 1}`);
    return this.finishRefine(client.executeCommand(ServerCommand.refine, [args]));
  }

  /** Stores the final payload a refine returns; errors go to the log (the server already told
   * the user through window/showMessage). */
  private async finishRefine(request: Promise<unknown>): Promise<CandidatesPayload | undefined> {
    try {
      const payload = normalisePayload(await request);
      if (payload) {
        this.store.update(payload);
      }
      return payload;
    } catch (err) {
      this.host.log.warn(`orps.refine ended with an error: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  /** The payload of the function at the cursor: the server's, else the latest one stored. */
  async candidatesHere(): Promise<CandidatesPayload | undefined> {
    const editor = this.host.activeEditor();
    const client = this.server.current;
    if (editor && client && editor.languageId === 'python') {
      try {
        const payload = normalisePayload(
          await client.sendRequest(CANDIDATES_REQUEST, {
            uri: editor.uri,
            position: { line: editor.line, character: editor.character },
          }),
        );
        if (payload) {
          this.store.update(payload);
          return payload;
        }
      } catch (err) {
        this.host.log.warn(`${CANDIDATES_REQUEST} failed: ${String(err)}`);
      }
    }
    const shown = this.panel.shownFunction;
    return (
      (editor ? this.store.latestForUri(editor.uri) : undefined) ??
      (shown ? this.store.get(shown) : undefined) ??
      this.store.latest()
    );
  }

  async pickCandidate(): Promise<void> {
    const payload = await this.candidatesHere();
    if (!payload) {
      void this.host.showInfo('No candidates yet: run "ORPS: Refine Function at Cursor" first.');
      return;
    }
    this.picker.show(payload);
  }

  async openComparison(): Promise<void> {
    const payload = await this.candidatesHere();
    if (!payload) {
      void this.host.showInfo('No candidates yet: run "ORPS: Refine Function at Cursor" first.');
      return;
    }
    this.panel.show(payload);
  }

  /** Accepts a candidate (see `Acceptance`); waits for a restarting server. */
  async accept(ref: FunctionRef, candidateId: string): Promise<boolean> {
    const client = await this.requireClient();
    return client ? this.acceptance.accept(client, ref, candidateId) : false;
  }

  async cancel(ref: FunctionRef | undefined): Promise<void> {
    const client = this.server.current;
    if (!client) {
      return;
    }
    this.store.markCancelled(ref);
    try {
      await client.executeCommand(ServerCommand.cancel, ref ? [{ uri: ref.uri, name: ref.name }] : []);
    } catch (err) {
      this.host.log.warn(`orps.cancel failed: ${String(err)}`);
    }
  }

  async setApiKey(): Promise<void> {
    const key = await this.host.askSecret('API key for the model endpoint (kept in VS Code secret storage)');
    if (key === undefined) {
      return;
    }
    if (key.trim() === '') {
      await this.clearApiKey();
      return;
    }
    await this.host.storeSecret(API_KEY_SECRET, key.trim());
    void this.host.showInfo('ORPS API key stored. Restarting the server with it.');
    await this.server.restart('API key set');
  }

  async clearApiKey(): Promise<void> {
    await this.host.deleteSecret(API_KEY_SECRET);
    void this.host.showInfo('ORPS API key removed. Restarting the server without it.');
    await this.server.restart('API key cleared');
  }

  dispose(): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    for (const d of this.disposables) {
      d.dispose();
    }
    void this.server.stop();
  }
}
