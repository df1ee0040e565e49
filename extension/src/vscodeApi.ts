/**
 * The one module that calls the `vscode` API and creates the language client: it implements the
 * `Host` interface that the rest of the extension is written against, so everything else is
 * unit-tested with a stub.
 */

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import {
  ClientCapabilities,
  ExecuteCommandRequest,
  FeatureState,
  StaticFeature,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
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
} from './host';
import { runProcess } from './processes';
import { SECTION } from './settings';

const PYTHON_EXTENSION = 'ms-python.python';

interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string } | undefined;
  resolveEnvironment(
    env: { id: string; path: string } | string,
  ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}

/** An open document by URI; both sides are normalised, as the server may spell URIs its way. */
function findDocument(uri: string): vscode.TextDocument | undefined {
  const wanted = vscode.Uri.parse(uri).toString();
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === wanted);
}

/**
 * Declares no `window.workDoneProgress` support (registered last, it overrides the built-in
 * feature's `true`): the server then reports a search only through `orps/candidates` and
 * `orps/status`, which the extension's one status-bar item and the panel show, instead of VS Code
 * drawing a second, separate progress item in the status bar.
 */
class NoWorkDoneProgress implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    if (capabilities.window) {
      capabilities.window.workDoneProgress = false;
    }
  }
  initialize(): void {}
  getState(): FeatureState {
    return { kind: 'static' };
  }
  clear(): void {}
}

class Client implements LspClient {
  private readonly client: LanguageClient;

  constructor(launch: ClientLaunch, output: vscode.LogOutputChannel) {
    const serverOptions: ServerOptions = {
      // No `transport`: with TransportKind.stdio the client would append `--stdio` to the
      // arguments, and `orps serve` speaks stdio by default.
      command: launch.command,
      args: launch.args,
      options: { cwd: launch.cwd, env: launch.env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
      ],
      outputChannel: output,
      traceOutputChannel: output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: launch.initializationOptions,
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.py') },
      middleware: {
        executeCommand: (command, args, next) =>
          launch.onServerCommand(command, args, async () => next(command, args)),
        workspace: {
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            if (result instanceof ResponseError || !Array.isArray(result)) {
              return result;
            }
            return params.items.map((item, i) => launch.mapConfiguration(item.section, result[i]));
          },
        },
      },
    };
    this.client = new LanguageClient(SECTION, 'ORPS', serverOptions, clientOptions);
    this.client.registerFeature(new NoWorkDoneProgress());
  }

  start(): Promise<void> {
    return this.client.start();
  }

  async stop(): Promise<void> {
    // A client whose start failed cannot be stopped, only disposed; both may throw then.
    if (this.client.isRunning()) {
      await this.client.stop(5000).catch(() => undefined);
    }
    await Promise.resolve(this.client.dispose(2000)).catch(() => undefined);
  }

  isRunning(): boolean {
    return this.client.isRunning();
  }

  sendRequest<R>(method: string, params: unknown): Promise<R> {
    return this.client.sendRequest<R>(method, params);
  }

  executeCommand(command: string, args: unknown[]): Promise<unknown> {
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  sendNotification(method: string, params: unknown): Promise<void> {
    return this.client.sendNotification(method, params);
  }

  onNotification(method: string, handler: (params: unknown) => void): Disposable {
    return this.client.onNotification(method, handler);
  }

  onStopped(listener: () => void): Disposable {
    return this.client.onDidChangeState((e) => {
      if (e.newState === State.Stopped) {
        listener();
      }
    });
  }
}

export function createHost(context: vscode.ExtensionContext): Host {
  const log = vscode.window.createOutputChannel('ORPS', { log: true });
  context.subscriptions.push(log);

  async function pythonApi(): Promise<PythonEnvironmentsApi | undefined> {
    const extension = vscode.extensions.getExtension(PYTHON_EXTENSION);
    if (!extension) {
      return undefined;
    }
    if (!extension.isActive) {
      await extension.activate();
    }
    const exports = extension.exports as { environments?: PythonEnvironmentsApi } | undefined;
    return exports?.environments;
  }

  const firstFolder = (): vscode.Uri | undefined => vscode.workspace.workspaceFolders?.[0]?.uri;

  return {
    log: {
      trace: (m) => log.trace(m),
      debug: (m) => log.debug(m),
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
      show: () => log.show(true),
    },
    homeDir: os.homedir(),
    processEnv: process.env,
    runProcess,
    readText: (file) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    },
    isDirectory: (dir) => {
      try {
        return fs.statSync(dir).isDirectory();
      } catch {
        return false;
      }
    },
    randomBytes: (size) => crypto.randomBytes(size),

    getSetting: <T>(key: string) => vscode.workspace.getConfiguration(SECTION, firstFolder()).get<T>(key),
    workspaceFolders: () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    onSettingsChanged: (listener) =>
      vscode.workspace.onDidChangeConfiguration((e) => listener((setting) => e.affectsConfiguration(setting))),
    pythonExtensionInterpreter: async () => {
      const api = await pythonApi();
      const active = api?.getActiveEnvironmentPath(firstFolder());
      if (!api || !active) {
        return undefined;
      }
      const resolved = await api.resolveEnvironment(active);
      return resolved?.executable.uri?.fsPath ?? active.path;
    },
    onPythonInterpreterChanged: (listener) => {
      const subscriptions: vscode.Disposable[] = [];
      void pythonApi()
        .then((api) => {
          if (api) {
            subscriptions.push(api.onDidChangeActiveEnvironmentPath(() => listener()));
          }
        })
        .catch(() => undefined);
      return { dispose: () => subscriptions.forEach((s) => s.dispose()) };
    },
    openSettings: async (query) => {
      await vscode.commands.executeCommand('workbench.action.openSettings', query);
    },

    showInfo: (message, ...items) => Promise.resolve(vscode.window.showInformationMessage(message, ...items)),
    showWarning: (message, ...items) => Promise.resolve(vscode.window.showWarningMessage(message, ...items)),
    showError: (message, ...items) => Promise.resolve(vscode.window.showErrorMessage(message, ...items)),
    confirm: async (message, action) =>
      (await vscode.window.showWarningMessage(message, { modal: true }, action)) === action,
    askSecret: (prompt) =>
      Promise.resolve(vscode.window.showInputBox({ prompt, password: true, ignoreFocusOut: true })),
    withProgress: (title, task) =>
      Promise.resolve(
        vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, () => task()),
      ),

    getSecret: (key) => Promise.resolve(context.secrets.get(key)),
    storeSecret: (key, value) => Promise.resolve(context.secrets.store(key, value)),
    deleteSecret: (key) => Promise.resolve(context.secrets.delete(key)),

    activeEditor: (): EditorState | undefined => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) {
        return undefined;
      }
      return {
        uri: editor.document.uri.toString(),
        version: editor.document.version,
        line: editor.selection.active.line,
        character: editor.selection.active.character,
        languageId: editor.document.languageId,
      };
    },
    isDirty: (uri) => findDocument(uri)?.isDirty ?? false,
    save: async (uri) => {
      const document = findDocument(uri) ?? (await vscode.workspace.openTextDocument(vscode.Uri.parse(uri)));
      return document.save();
    },

    registerCommand: (id, handler) => vscode.commands.registerCommand(id, handler),
    createStatusItem: (): StatusItem => {
      const item = vscode.window.createStatusBarItem('orps.status', vscode.StatusBarAlignment.Left, 50);
      item.name = 'ORPS';
      return {
        get text() {
          return item.text;
        },
        set text(value: string) {
          item.text = value;
        },
        get tooltip() {
          return typeof item.tooltip === 'string' ? item.tooltip : '';
        },
        set tooltip(value: string) {
          item.tooltip = value;
        },
        get command() {
          return typeof item.command === 'string' ? item.command : undefined;
        },
        set command(value: string | undefined) {
          item.command = value;
        },
        show: () => item.show(),
        hide: () => item.hide(),
        dispose: () => item.dispose(),
      };
    },
    createPanel: (title): WebviewPanelHandle => {
      const panel = vscode.window.createWebviewPanel(
        'orps.comparison',
        title,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] },
      );
      return {
        cspSource: panel.webview.cspSource,
        setTitle: (t) => {
          panel.title = t;
        },
        setHtml: (html) => {
          panel.webview.html = html;
        },
        postMessage: (message) => Promise.resolve(panel.webview.postMessage(message)),
        reveal: () => panel.reveal(undefined, true),
        onMessage: (listener) => panel.webview.onDidReceiveMessage((m: PanelMessage) => listener(m)),
        onDispose: (listener) => panel.onDidDispose(listener),
        dispose: () => panel.dispose(),
      };
    },
    showQuickPick: (options: QuickPickOptions): QuickPickHandle => {
      type Item = vscode.QuickPickItem & { source: PickItem };
      const pick = vscode.window.createQuickPick<Item>();
      const toItems = (items: PickItem[]): Item[] =>
        items.map((source) => ({
          source,
          label: source.label,
          description: source.description,
          detail: source.detail,
        }));
      pick.title = options.title;
      pick.placeholder = options.placeholder;
      pick.matchOnDescription = true;
      pick.matchOnDetail = true;
      pick.ignoreFocusOut = true;
      pick.items = toItems(options.items);
      const subscriptions = [
        pick.onDidChangeActive((active) => {
          if (active[0]) {
            options.onActive(active[0].source);
          }
        }),
        pick.onDidAccept(() => {
          const selected = pick.selectedItems[0] ?? pick.activeItems[0];
          if (selected) {
            options.onAccept(selected.source);
          }
        }),
        pick.onDidHide(() => options.onHide()),
      ];
      pick.show();
      return {
        setItems: (items) => {
          const activeId = pick.activeItems[0]?.source.id;
          pick.items = toItems(items);
          const again = pick.items.find((i) => activeId !== undefined && i.source.id === activeId);
          if (again) {
            pick.activeItems = [again];
          }
        },
        setTitle: (title) => {
          pick.title = title;
        },
        hide: () => pick.hide(),
        dispose: () => {
          subscriptions.forEach((s) => s.dispose());
          pick.dispose();
        },
      };
    },
    registerVirtualDocuments: (scheme, provide) =>
      vscode.workspace.registerTextDocumentContentProvider(scheme, {
        provideTextDocumentContent: (uri) =>
          provide(`${uri.scheme}:${uri.path}?${encodeURIComponent(uri.query)}`) ?? '',
      }),
    showDiff: async (left, right, title) => {
      await vscode.commands.executeCommand('vscode.diff', vscode.Uri.parse(left), vscode.Uri.parse(right), title, {
        preview: true,
        preserveFocus: true,
      });
    },

    closeTabsOf: async (scheme) => {
      const showsScheme = (input: unknown): boolean => {
        if (input instanceof vscode.TabInputTextDiff) {
          return input.original.scheme === scheme || input.modified.scheme === scheme;
        }
        return input instanceof vscode.TabInputText && input.uri.scheme === scheme;
      };
      const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => showsScheme(tab.input));
      if (tabs.length) {
        await vscode.window.tabGroups.close(tabs, true);
      }
    },

    createClient: (launch) => new Client(launch, log),
  };
}
