/**
 * A stub of the `Host` interface (the wrapper around the `vscode` API) that records what the
 * extension asks of the editor, for the unit tests.
 */

import {
  ClientLaunch,
  Disposable,
  EditorState,
  Host,
  LspClient,
  PanelMessage,
  PickItem,
  QuickPickHandle,
  QuickPickOptions,
  StatusItem,
  WebviewPanelHandle,
} from '../src/host';
import { ProcessResult } from '../src/interpreter';

export interface RecordedProcess {
  command: string;
  args: string[];
}

export class StubClient implements LspClient {
  running = false;
  started = 0;
  stopped = 0;
  requests: Array<{ method: string; params: unknown }> = [];
  commands: Array<{ command: string; args: unknown[] }> = [];
  notifications: Array<{ method: string; params: unknown }> = [];
  handlers = new Map<string, (params: unknown) => void>();
  stopListeners: Array<() => void> = [];
  /** Answers to executeCommand, by command. */
  answers = new Map<string, (args: unknown[]) => unknown>();
  requestAnswers = new Map<string, (params: unknown) => unknown>();

  constructor(readonly launch: ClientLaunch) {}

  async start(): Promise<void> {
    this.started += 1;
    this.running = true;
  }
  async stop(): Promise<void> {
    this.stopped += 1;
    this.running = false;
  }
  isRunning(): boolean {
    return this.running;
  }
  async sendRequest<R>(method: string, params: unknown): Promise<R> {
    this.requests.push({ method, params });
    const answer = this.requestAnswers.get(method);
    return (answer ? answer(params) : null) as R;
  }
  async executeCommand(command: string, args: unknown[]): Promise<unknown> {
    this.commands.push({ command, args });
    const answer = this.answers.get(command);
    return answer ? answer(args) : null;
  }
  async sendNotification(method: string, params: unknown): Promise<void> {
    this.notifications.push({ method, params });
  }
  onNotification(method: string, handler: (params: unknown) => void): Disposable {
    this.handlers.set(method, handler);
    return { dispose: () => this.handlers.delete(method) };
  }
  onStopped(listener: () => void): Disposable {
    this.stopListeners.push(listener);
    return { dispose: () => undefined };
  }
  /** Delivers a notification as the server would. */
  notify(method: string, params: unknown): void {
    const handler = this.handlers.get(method);
    if (!handler) {
      throw new Error(`no handler for ${method}`);
    }
    handler(params);
  }
}

export class StubPanel implements WebviewPanelHandle {
  readonly cspSource = 'vscode-webview://stub';
  html = '';
  title: string;
  posted: unknown[] = [];
  revealed = 0;
  disposed = false;
  messageListeners: Array<(m: PanelMessage) => void> = [];
  disposeListeners: Array<() => void> = [];

  constructor(title: string) {
    this.title = title;
  }
  setTitle(title: string): void {
    this.title = title;
  }
  setHtml(html: string): void {
    this.html = html;
  }
  async postMessage(message: unknown): Promise<boolean> {
    this.posted.push(message);
    return true;
  }
  reveal(): void {
    this.revealed += 1;
  }
  onMessage(listener: (message: PanelMessage) => void): Disposable {
    this.messageListeners.push(listener);
    return { dispose: () => undefined };
  }
  onDispose(listener: () => void): Disposable {
    this.disposeListeners.push(listener);
    return { dispose: () => undefined };
  }
  dispose(): void {
    this.disposed = true;
    this.disposeListeners.forEach((l) => l());
  }
  /** Sends a message as the webview's script would. */
  send(message: PanelMessage): void {
    this.messageListeners.forEach((l) => l(message));
  }
  /** The body HTML most recently shown (initial HTML or the last render message). */
  lastBody(): string {
    const renders = this.posted.filter((m): m is { type: string; html: string } => (m as { type?: string }).type === 'render');
    return renders.length ? renders[renders.length - 1].html : this.html;
  }
}

export class StubQuickPick implements QuickPickHandle {
  items: PickItem[];
  title: string;
  hidden = false;
  disposed = false;
  constructor(readonly options: QuickPickOptions) {
    this.items = options.items;
    this.title = options.title;
  }
  setItems(items: PickItem[]): void {
    this.items = items;
  }
  setTitle(title: string): void {
    this.title = title;
  }
  hide(): void {
    this.hidden = true;
    this.options.onHide();
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class StubHost implements Host {
  logs: string[] = [];
  readonly log = {
    trace: (m: string) => this.logs.push(`trace ${m}`),
    debug: (m: string) => this.logs.push(`debug ${m}`),
    info: (m: string) => this.logs.push(`info ${m}`),
    warn: (m: string) => this.logs.push(`warn ${m}`),
    error: (m: string) => this.logs.push(`error ${m}`),
    show: () => {
      this.logShown += 1;
    },
  };
  logShown = 0;
  homeDir = '/home/user';
  processEnv: Record<string, string | undefined> = { PATH: '/usr/bin', HOME: '/home/user' };
  settings: Record<string, unknown> = {};
  folders: string[] = ['/ws'];
  files: Record<string, string> = {};
  directories = new Set<string>();
  secrets = new Map<string, string>();
  pythonExtension: string | undefined;
  editor: EditorState | undefined;
  dirty = new Set<string>();
  saved: string[] = [];
  messages: Array<{ level: string; message: string; items: string[] }> = [];
  /** Answers to messages: the first whose text matches picks the item. */
  choices: Array<{ match: RegExp; choice: string | undefined }> = [];
  secretAnswer: string | undefined;
  commands = new Map<string, (...args: unknown[]) => unknown>();
  statusItems: StatusItem[] = [];
  panels: StubPanel[] = [];
  quickPicks: StubQuickPick[] = [];
  virtualDocuments = new Map<string, (uri: string) => string | undefined>();
  diffs: Array<{ left: string; right: string; title: string }> = [];
  clients: StubClient[] = [];
  settingsListeners: Array<(affects: (s: string) => boolean) => void> = [];
  pythonListeners: Array<() => void> = [];
  processes: RecordedProcess[] = [];
  openedSettings: string[] = [];
  /** How processes answer; the default is a Python 3.11 with orps. */
  processAnswer: (command: string, args: string[]) => ProcessResult = (_command, args) => {
    if (args[1]?.includes('version_info')) {
      return { code: 0, stdout: '3.11.7\n', stderr: '' };
    }
    return { code: 0, stdout: '', stderr: '' };
  };
  /** Called for each new client, before it starts. */
  onClient: (client: StubClient) => void = () => undefined;

  runProcess = async (command: string, args: string[]): Promise<ProcessResult> => {
    this.processes.push({ command, args });
    return this.processAnswer(command, args);
  };
  readText(file: string): string | undefined {
    return this.files[file];
  }
  isDirectory(dir: string): boolean {
    return this.directories.has(dir);
  }
  randomBytes(size: number): Uint8Array {
    return Uint8Array.from({ length: size }, (_, i) => (i * 7) % 256);
  }
  getSetting<T>(key: string): T | undefined {
    return this.settings[key] as T | undefined;
  }
  workspaceFolders(): string[] {
    return this.folders;
  }
  onSettingsChanged(listener: (affects: (setting: string) => boolean) => void): Disposable {
    this.settingsListeners.push(listener);
    return { dispose: () => undefined };
  }
  changeSettings(...changed: string[]): void {
    this.settingsListeners.forEach((l) => l((s) => changed.some((c) => c === s || c.startsWith(`${s}.`))));
  }
  async pythonExtensionInterpreter(): Promise<string | undefined> {
    return this.pythonExtension;
  }
  onPythonInterpreterChanged(listener: () => void): Disposable {
    this.pythonListeners.push(listener);
    return { dispose: () => undefined };
  }
  async openSettings(query: string): Promise<void> {
    this.openedSettings.push(query);
  }
  private answer(level: string, message: string, items: string[]): Promise<string | undefined> {
    this.messages.push({ level, message, items });
    const rule = this.choices.find((c) => c.match.test(message));
    return Promise.resolve(rule?.choice);
  }
  showInfo(message: string, ...items: string[]): Promise<string | undefined> {
    return this.answer('info', message, items);
  }
  showWarning(message: string, ...items: string[]): Promise<string | undefined> {
    return this.answer('warning', message, items);
  }
  showError(message: string, ...items: string[]): Promise<string | undefined> {
    return this.answer('error', message, items);
  }
  /** Answers to confirm(): true confirms. */
  confirmAnswer = false;
  confirmations: string[] = [];
  async confirm(message: string): Promise<boolean> {
    this.confirmations.push(message);
    return this.confirmAnswer;
  }
  closedSchemes: string[] = [];
  async closeTabsOf(scheme: string): Promise<void> {
    this.closedSchemes.push(scheme);
  }
  async askSecret(): Promise<string | undefined> {
    return this.secretAnswer;
  }
  withProgress<T>(_title: string, task: () => Promise<T>): Promise<T> {
    return task();
  }
  async getSecret(key: string): Promise<string | undefined> {
    return this.secrets.get(key);
  }
  async storeSecret(key: string, value: string): Promise<void> {
    this.secrets.set(key, value);
  }
  async deleteSecret(key: string): Promise<void> {
    this.secrets.delete(key);
  }
  activeEditor(): EditorState | undefined {
    return this.editor;
  }
  isDirty(uri: string): boolean {
    return this.dirty.has(uri);
  }
  async save(uri: string): Promise<boolean> {
    this.saved.push(uri);
    return true;
  }
  registerCommand(id: string, handler: (...args: unknown[]) => unknown): Disposable {
    if (this.commands.has(id)) {
      throw new Error(`command ${id} registered twice`);
    }
    this.commands.set(id, handler);
    return { dispose: () => this.commands.delete(id) };
  }
  createStatusItem(): StatusItem {
    const item: StatusItem & { visible: boolean } = {
      text: '',
      tooltip: '',
      command: undefined,
      visible: false,
      show() {
        item.visible = true;
      },
      hide() {
        item.visible = false;
      },
      dispose() {
        item.visible = false;
      },
    };
    this.statusItems.push(item);
    return item;
  }
  createPanel(title: string): WebviewPanelHandle {
    const panel = new StubPanel(title);
    this.panels.push(panel);
    return panel;
  }
  showQuickPick(options: QuickPickOptions): QuickPickHandle {
    const pick = new StubQuickPick(options);
    this.quickPicks.push(pick);
    return pick;
  }
  registerVirtualDocuments(scheme: string, provide: (uri: string) => string | undefined): Disposable {
    this.virtualDocuments.set(scheme, provide);
    return { dispose: () => this.virtualDocuments.delete(scheme) };
  }
  async showDiff(left: string, right: string, title: string): Promise<void> {
    this.diffs.push({ left, right, title });
  }
  createClient(launch: ClientLaunch): LspClient {
    const client = new StubClient(launch);
    this.clients.push(client);
    this.onClient(client);
    return client;
  }
  get lastClient(): StubClient {
    const client = this.clients[this.clients.length - 1];
    if (!client) {
      throw new Error('no client was created');
    }
    return client;
  }
}

/** Lets pending promise callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
