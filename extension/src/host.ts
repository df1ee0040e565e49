/**
 * The editor as the extension's logic sees it: a small interface over the parts of the VS Code
 * API (and the language client) that the extension uses.
 *
 * `vscodeApi.ts` implements it with the real `vscode` module; the unit tests implement it with a
 * stub. Nothing here imports `vscode`, and URIs travel as strings.
 */

import { ProcessRunner } from './interpreter';

export interface Disposable {
  dispose(): void;
}

export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  show(): void;
}

export interface EditorState {
  uri: string;
  version: number;
  line: number;
  character: number;
  languageId: string;
}

export interface StatusItem extends Disposable {
  text: string;
  tooltip: string;
  command: string | undefined;
  show(): void;
  hide(): void;
}

export type PanelMessage =
  | { type: 'ready' }
  | { type: 'accept'; candidateId: string }
  | { type: 'cancel' };

export interface WebviewPanelHandle extends Disposable {
  readonly cspSource: string;
  setTitle(title: string): void;
  setHtml(html: string): void;
  postMessage(message: unknown): Promise<boolean>;
  reveal(): void;
  onMessage(listener: (message: PanelMessage) => void): Disposable;
  onDispose(listener: () => void): Disposable;
}

export interface PickItem {
  label: string;
  description?: string;
  detail?: string;
  /** The candidate id, for selectable items. */
  id?: string;
}

export interface QuickPickOptions {
  title: string;
  placeholder: string;
  items: PickItem[];
  onActive(item: PickItem): void;
  onAccept(item: PickItem): void;
  onHide(): void;
}

export interface QuickPickHandle extends Disposable {
  setItems(items: PickItem[]): void;
  setTitle(title: string): void;
  hide(): void;
}

/** The language client: only what the extension calls. */
export interface LspClient {
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
  sendRequest<R>(method: string, params: unknown): Promise<R>;
  executeCommand(command: string, args: unknown[]): Promise<unknown>;
  sendNotification(method: string, params: unknown): Promise<void>;
  onNotification(method: string, handler: (params: unknown) => void): Disposable;
  /** Called when the server process exits and the client gives up restarting it. */
  onStopped(listener: () => void): Disposable;
}

export interface ClientLaunch {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  initializationOptions: unknown;
  /** Intercepts the server's own commands (run from code lenses and code actions); `next`
   * forwards to the server. */
  onServerCommand(command: string, args: unknown[], next: () => Promise<unknown>): Promise<unknown>;
  /** Rewrites a `workspace/configuration` answer before it goes to the server. */
  mapConfiguration(section: string | undefined, value: unknown): unknown;
}

export interface Host {
  readonly log: Logger;
  readonly homeDir: string;
  readonly processEnv: Record<string, string | undefined>;
  runProcess: ProcessRunner;
  readText(file: string): string | undefined;
  isDirectory(dir: string): boolean;
  randomBytes(size: number): Uint8Array;

  /** `orps.<key>` in the first workspace folder's scope, defaults included. */
  getSetting<T>(key: string): T | undefined;
  workspaceFolders(): string[];
  onSettingsChanged(listener: (affects: (setting: string) => boolean) => void): Disposable;
  pythonExtensionInterpreter(): Promise<string | undefined>;
  onPythonInterpreterChanged(listener: () => void): Disposable;
  openSettings(query: string): Promise<void>;

  showInfo(message: string, ...items: string[]): Promise<string | undefined>;
  showWarning(message: string, ...items: string[]): Promise<string | undefined>;
  showError(message: string, ...items: string[]): Promise<string | undefined>;
  /** A modal question with one confirming button; true when the user chose it. */
  confirm(message: string, action: string): Promise<boolean>;
  askSecret(prompt: string): Promise<string | undefined>;
  withProgress<T>(title: string, task: () => Promise<T>): Promise<T>;

  getSecret(key: string): Promise<string | undefined>;
  storeSecret(key: string, value: string): Promise<void>;
  deleteSecret(key: string): Promise<void>;

  activeEditor(): EditorState | undefined;
  isDirty(uri: string): boolean;
  save(uri: string): Promise<boolean>;

  registerCommand(id: string, handler: (...args: unknown[]) => unknown): Disposable;
  createStatusItem(): StatusItem;
  createPanel(title: string): WebviewPanelHandle;
  showQuickPick(options: QuickPickOptions): QuickPickHandle;
  registerVirtualDocuments(scheme: string, provide: (uri: string) => string | undefined): Disposable;
  showDiff(left: string, right: string, title: string): Promise<void>;
  /** Closes the editor tabs showing documents of this URI scheme (e.g. diff previews). */
  closeTabsOf(scheme: string): Promise<void>;

  createClient(launch: ClientLaunch): LspClient;
}
