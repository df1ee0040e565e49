/**
 * Finding and checking the Python that runs the server: the `orps.server.interpreter` setting,
 * then the Python extension's active environment, then `python3` on the PATH; then its version
 * (3.11 or later) and whether it can import the `orps` package, and how to install it there.
 *
 * Processes are run through an injected runner, so the order and the checks are tested without
 * spawning anything.
 */

import * as path from 'path';

export const MINIMUM_PYTHON: readonly [number, number] = [3, 11];
export const FALLBACK_PYTHON = process.platform === 'win32' ? 'python' : 'python3';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface ResolvedInterpreter {
  path: string;
  source: InterpreterSource;
}

export interface InterpreterSources {
  /** The `orps.server.interpreter` setting, raw. */
  setting: string | undefined;
  workspaceFolder: string | undefined;
  home: string;
  /** The Python extension's active environment, when the extension is installed. */
  pythonExtension: () => Promise<string | undefined>;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started at all (ENOENT, ...). */
  error?: string;
}

export type ProcessRunner = (
  command: string,
  args: string[],
  options?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number },
) => Promise<ProcessResult>;

/** Expands `${workspaceFolder}`, `${userHome}` and a leading `~` in a setting's path. */
export function expandPath(value: string, workspaceFolder: string | undefined, home: string): string {
  let out = value.trim();
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) {
    out = home + out.slice(1);
  }
  out = out.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) {
    out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (workspaceFolder !== undefined && (out.includes('/') || out.includes('\\')) && !path.isAbsolute(out)) {
    out = path.join(workspaceFolder, out);
  }
  return out;
}

export async function resolveInterpreter(sources: InterpreterSources): Promise<ResolvedInterpreter> {
  const setting = sources.setting?.trim();
  if (setting) {
    return { path: expandPath(setting, sources.workspaceFolder, sources.home), source: 'setting' };
  }
  let fromExtension: string | undefined;
  try {
    fromExtension = await sources.pythonExtension();
  } catch {
    fromExtension = undefined;
  }
  if (fromExtension) {
    return { path: fromExtension, source: 'python-extension' };
  }
  return { path: FALLBACK_PYTHON, source: 'default' };
}

export type PythonVersion = [number, number, number];

export const VERSION_SCRIPT = "import sys; print('%d.%d.%d' % sys.version_info[:3])";
export const IMPORT_SCRIPT = 'import orps.cli';

export function parsePythonVersion(stdout: string): PythonVersion | undefined {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(stdout);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

export function isSupportedVersion(version: PythonVersion): boolean {
  const [major, minor] = version;
  return major > MINIMUM_PYTHON[0] || (major === MINIMUM_PYTHON[0] && minor >= MINIMUM_PYTHON[1]);
}

export type InterpreterCheck =
  | { kind: 'ok'; version: PythonVersion }
  | { kind: 'not-found'; detail: string }
  | { kind: 'too-old'; version: PythonVersion }
  | { kind: 'no-orps'; version: PythonVersion; detail: string };

export async function checkInterpreter(run: ProcessRunner, python: string): Promise<InterpreterCheck> {
  const versionRun = await run(python, ['-c', VERSION_SCRIPT], { timeoutMs: 20_000 });
  const version = versionRun.code === 0 ? parsePythonVersion(versionRun.stdout) : undefined;
  if (!version) {
    return {
      kind: 'not-found',
      detail: versionRun.error ?? (versionRun.stderr.trim() || `exit status ${versionRun.code}`),
    };
  }
  if (!isSupportedVersion(version)) {
    return { kind: 'too-old', version };
  }
  const importRun = await run(python, ['-c', IMPORT_SCRIPT], { timeoutMs: 30_000 });
  if (importRun.code !== 0) {
    const lastLine = importRun.stderr.trim().split('\n').pop() ?? '';
    return { kind: 'no-orps', version, detail: importRun.error ?? lastLine };
  }
  return { kind: 'ok', version };
}

export function describeCheck(check: InterpreterCheck, interpreter: ResolvedInterpreter): string {
  const where =
    interpreter.source === 'setting'
      ? `${interpreter.path} (orps.server.interpreter)`
      : interpreter.source === 'python-extension'
        ? `${interpreter.path} (the Python extension's environment)`
        : `${interpreter.path} (on the PATH)`;
  switch (check.kind) {
    case 'ok':
      return `Python ${check.version.join('.')} at ${where}`;
    case 'not-found':
      return `ORPS could not run Python at ${where}: ${check.detail}`;
    case 'too-old':
      return `ORPS needs Python ${MINIMUM_PYTHON.join('.')} or later; ${where} is ${check.version.join('.')}.`;
    case 'no-orps':
      return `The Python at ${where} does not have the orps package (${check.detail}).`;
  }
}

export type PackageSource = { kind: 'directory'; path: string } | { kind: 'requirement'; spec: string };

/**
 * What to pip-install: the `orps.server.packageSource` setting (a directory, installed editable,
 * or any pip requirement), else a workspace folder that is the orps source tree. Never a bare
 * name from an index: "orps" on PyPI need not be this project.
 */
export function choosePackageSource(
  setting: string | undefined,
  workspaceFolders: string[],
  home: string,
  readText: (file: string) => string | undefined,
  isDirectory: (dir: string) => boolean,
): PackageSource | undefined {
  const value = setting?.trim();
  if (value) {
    const expanded = expandPath(value, workspaceFolders[0], home);
    if (isDirectory(expanded)) {
      return { kind: 'directory', path: expanded };
    }
    return { kind: 'requirement', spec: value };
  }
  for (const folder of workspaceFolders) {
    const pyproject = readText(path.join(folder, 'pyproject.toml'));
    if (pyproject && /^\s*name\s*=\s*["']orps["']/m.test(pyproject)) {
      return { kind: 'directory', path: folder };
    }
  }
  return undefined;
}

export function pipInstallArgs(source: PackageSource): string[] {
  return source.kind === 'directory'
    ? ['-m', 'pip', 'install', '--editable', source.path]
    : ['-m', 'pip', 'install', source.spec];
}
