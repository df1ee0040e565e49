/**
 * Starting, checking and restarting `python -m orps serve`.
 *
 * Start: resolve the interpreter, check its version and that it imports orps (offering to
 * install the package there when not), read the settings into `initializationOptions`, put the
 * API key from secret storage into the server's environment, and start the language client.
 * Restarts are serialised, so a burst of setting changes gives one restart.
 */

import { buildServerEnvironment } from './environment';
import { ClientLaunch, Disposable, Host, LspClient } from './host';
import {
  checkInterpreter,
  choosePackageSource,
  describeCheck,
  pipInstallArgs,
  resolveInterpreter,
  ResolvedInterpreter,
} from './interpreter';
import {
  apiKeyEnvName,
  INTERPRETER_SETTING,
  PACKAGE_SOURCE_SETTING,
  serverSettingsFrom,
  SECTION,
  toInitializationOptions,
} from './settings';
import { ServerState } from './statusView';

export const API_KEY_SECRET = 'orps.apiKey';

export interface ServerHooks {
  /** Called with each new client before it starts, to subscribe to its notifications. */
  attach(client: LspClient): Disposable[];
  /** Called once a new client runs, before anything queued behind the start (a Refine waiting
   * for the server) goes on: e.g. to restore the stored results. */
  started(client: LspClient): Promise<void>;
  onServerCommand: ClientLaunch['onServerCommand'];
  onStateChanged(state: ServerState): void;
}

export class ServerManager {
  private client: LspClient | undefined;
  private subscriptions: Disposable[] = [];
  private queue: Promise<void> = Promise.resolve();
  private state: ServerState = 'stopped';
  private interpreter: ResolvedInterpreter | undefined;

  constructor(
    private readonly host: Host,
    private readonly hooks: ServerHooks,
  ) {}

  get current(): LspClient | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  get serverState(): ServerState {
    return this.state;
  }

  /** (Re)starts the server; calls made while one runs wait for it. */
  restart(reason: string): Promise<void> {
    return this.enqueue(async () => {
      this.host.log.info(`Starting the orps server (${reason}).`);
      await this.stopNow();
      await this.startNow();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.stopNow());
  }

  /** The running client once any start or restart in progress is over (undefined when the
   * server could not start): a command issued during a restart waits for it. */
  async ready(): Promise<LspClient | undefined> {
    await this.queue;
    return this.current;
  }

  /** Whether a start or restart is under way. */
  get busy(): boolean {
    return this.pending > 0;
  }

  private pending = 0;

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.pending += 1;
    // A failed step must not stall the steps queued after it.
    this.queue = this.queue
      .then(step)
      .catch((err: unknown) => this.host.log.error(`Server start/stop failed: ${String(err)}`))
      .finally(() => {
        this.pending -= 1;
      });
    return this.queue;
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.hooks.onStateChanged(state);
  }

  private async stopNow(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const s of this.subscriptions) {
      s.dispose();
    }
    this.subscriptions = [];
    if (client) {
      try {
        await client.stop();
      } catch (err) {
        this.host.log.warn(`Stopping the server: ${String(err)}`);
      }
      this.setState('stopped');
    }
  }

  async resolveInterpreter(): Promise<ResolvedInterpreter> {
    return resolveInterpreter({
      setting: this.host.getSetting<string>(INTERPRETER_SETTING),
      workspaceFolder: this.host.workspaceFolders()[0],
      home: this.host.homeDir,
      pythonExtension: () => this.host.pythonExtensionInterpreter(),
    });
  }

  /** The launch description: command, environment, settings. Exposed for the tests. */
  async launch(interpreter: ResolvedInterpreter): Promise<ClientLaunch> {
    const settings = toInitializationOptions((key) => this.host.getSetting(key));
    const apiKey = await this.host.getSecret(API_KEY_SECRET);
    const keyName = apiKeyEnvName(settings);
    return {
      command: interpreter.path,
      args: ['-m', 'orps', 'serve'],
      cwd: this.host.workspaceFolders()[0],
      env: buildServerEnvironment(this.host.processEnv, keyName, apiKey),
      initializationOptions: settings,
      onServerCommand: this.hooks.onServerCommand,
      mapConfiguration: (section, value) => (section === SECTION ? serverSettingsFrom(value) : value),
    };
  }

  private async startNow(): Promise<void> {
    this.setState('starting');
    const interpreter = await this.resolveInterpreter();
    this.interpreter = interpreter;
    const check = await checkInterpreter(this.host.runProcess, interpreter.path);
    const description = describeCheck(check, interpreter);
    if (check.kind !== 'ok') {
      this.host.log.error(description);
      this.setState('failed');
      void this.offerFix(check.kind, description);
      return;
    }
    this.host.log.info(description);
    const launch = await this.launch(interpreter);
    this.host.log.info(`${launch.command} ${launch.args.join(' ')} (in ${launch.cwd ?? 'no folder'})`);
    this.host.log.info(`initializationOptions: ${JSON.stringify(launch.initializationOptions)}`);
    if (launch.env[apiKeyEnvName(launch.initializationOptions as Record<string, unknown>)] !== undefined) {
      this.host.log.info(`${apiKeyEnvName(launch.initializationOptions as Record<string, unknown>)} is set for the server.`);
    }
    const client = this.host.createClient(launch);
    this.client = client;
    this.subscriptions = [
      ...this.hooks.attach(client),
      client.onStopped(() => {
        if (this.client === client) {
          this.setState('failed');
        }
      }),
    ];
    try {
      await client.start();
      this.setState('running');
      await this.hooks.started(client).catch((err: unknown) => this.host.log.warn(`After the start: ${String(err)}`));
    } catch (err) {
      this.host.log.error(`The orps server did not start: ${String(err)}`);
      this.setState('failed');
      void this.host
        .showError('The orps server did not start. See the ORPS log.', 'Show Log')
        .then((choice) => (choice ? this.host.log.show() : undefined));
    }
  }

  private async offerFix(kind: string, description: string): Promise<void> {
    if (kind === 'no-orps') {
      const choice = await this.host.showError(`${description} Install it there?`, 'Install', 'Select Interpreter');
      if (choice === 'Install') {
        await this.install();
      } else if (choice === 'Select Interpreter') {
        await this.host.openSettings(`${SECTION}.${INTERPRETER_SETTING}`);
      }
      return;
    }
    const choice = await this.host.showError(description, 'Select Interpreter', 'Show Log');
    if (choice === 'Select Interpreter') {
      await this.host.openSettings(`${SECTION}.${INTERPRETER_SETTING}`);
    } else if (choice === 'Show Log') {
      this.host.log.show();
    }
  }

  /** pip-installs the server package into the interpreter, then restarts. */
  async install(): Promise<boolean> {
    const interpreter = this.interpreter ?? (await this.resolveInterpreter());
    const source = choosePackageSource(
      this.host.getSetting<string>(PACKAGE_SOURCE_SETTING),
      this.host.workspaceFolders(),
      this.host.homeDir,
      (file) => this.host.readText(file),
      (dir) => this.host.isDirectory(dir),
    );
    if (!source) {
      const choice = await this.host.showError(
        'Where is the orps package? Set orps.server.packageSource to the orps source directory (or a pip requirement), or open the orps repository as the workspace.',
        'Open Settings',
      );
      if (choice) {
        await this.host.openSettings(`${SECTION}.${PACKAGE_SOURCE_SETTING}`);
      }
      return false;
    }
    const args = pipInstallArgs(source);
    this.host.log.info(`${interpreter.path} ${args.join(' ')}`);
    const result = await this.host.withProgress('Installing orps…', () =>
      this.host.runProcess(interpreter.path, args, { timeoutMs: 15 * 60_000 }),
    );
    if (result.stdout) {
      this.host.log.info(result.stdout.trimEnd());
    }
    if (result.stderr) {
      this.host.log.warn(result.stderr.trimEnd());
    }
    if (result.code !== 0) {
      const reason = result.error ?? result.stderr.trim().split('\n').pop() ?? `exit status ${result.code}`;
      void this.host
        .showError(`pip could not install orps into ${interpreter.path}: ${reason}`, 'Show Log')
        .then((choice) => (choice ? this.host.log.show() : undefined));
      return false;
    }
    void this.host.showInfo(`Installed orps into ${interpreter.path}.`);
    await this.restart('installed the server package');
    return true;
  }
}
