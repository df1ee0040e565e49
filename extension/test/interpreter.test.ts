import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkInterpreter,
  choosePackageSource,
  expandPath,
  FALLBACK_PYTHON,
  isSupportedVersion,
  parsePythonVersion,
  pipInstallArgs,
  ProcessResult,
  resolveInterpreter,
} from '../src/interpreter';

const fromExtension = (value: string | undefined) => async () => value;

test('the setting wins, then the Python extension, then python3', async () => {
  assert.deepEqual(
    await resolveInterpreter({ setting: '/opt/py/bin/python', workspaceFolder: '/ws', home: '/h', pythonExtension: fromExtension('/venv/bin/python') }),
    { path: '/opt/py/bin/python', source: 'setting' },
  );
  assert.deepEqual(
    await resolveInterpreter({ setting: '  ', workspaceFolder: '/ws', home: '/h', pythonExtension: fromExtension('/venv/bin/python') }),
    { path: '/venv/bin/python', source: 'python-extension' },
  );
  assert.deepEqual(
    await resolveInterpreter({ setting: undefined, workspaceFolder: '/ws', home: '/h', pythonExtension: fromExtension(undefined) }),
    { path: FALLBACK_PYTHON, source: 'default' },
  );
  const failing = async () => {
    throw new Error('extension failed');
  };
  assert.equal((await resolveInterpreter({ setting: '', workspaceFolder: undefined, home: '/h', pythonExtension: failing })).source, 'default');
});

test('paths in the setting expand', () => {
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', '/ws', '/h'), '/ws/.venv/bin/python');
  assert.equal(expandPath('~/venv/bin/python', '/ws', '/h'), '/h/venv/bin/python');
  assert.equal(expandPath('.venv/bin/python', '/ws', '/h'), '/ws/.venv/bin/python');
  assert.equal(expandPath('python3.12', '/ws', '/h'), 'python3.12');
});

test('versions parse and 3.11 is the floor', () => {
  assert.deepEqual(parsePythonVersion('3.11.7\n'), [3, 11, 7]);
  assert.equal(parsePythonVersion('garbage'), undefined);
  assert.equal(isSupportedVersion([3, 11, 0]), true);
  assert.equal(isSupportedVersion([3, 13, 1]), true);
  assert.equal(isSupportedVersion([3, 10, 12]), false);
  assert.equal(isSupportedVersion([4, 0, 0]), true);
});

function runner(version: ProcessResult, importRun: ProcessResult) {
  const calls: string[][] = [];
  const run = async (_command: string, args: string[]) => {
    calls.push(args);
    return args[1].includes('version_info') ? version : importRun;
  };
  return { calls, run };
}

test('checks: missing interpreter, old Python, no orps, ready', async () => {
  const ok: ProcessResult = { code: 0, stdout: '', stderr: '' };
  let r = runner({ code: null, stdout: '', stderr: '', error: 'ENOENT: spawn python9 ENOENT' }, ok);
  assert.deepEqual(await checkInterpreter(r.run, 'python9'), { kind: 'not-found', detail: 'ENOENT: spawn python9 ENOENT' });
  r = runner({ code: 0, stdout: '3.10.4\n', stderr: '' }, ok);
  assert.deepEqual(await checkInterpreter(r.run, 'python3'), { kind: 'too-old', version: [3, 10, 4] });
  assert.equal(r.calls.length, 1, 'no import check on a too-old Python');
  r = runner({ code: 0, stdout: '3.12.1\n', stderr: '' }, { code: 1, stdout: '', stderr: "Traceback...\nModuleNotFoundError: No module named 'orps'\n" });
  assert.deepEqual(await checkInterpreter(r.run, 'python3'), {
    kind: 'no-orps',
    version: [3, 12, 1],
    detail: "ModuleNotFoundError: No module named 'orps'",
  });
  r = runner({ code: 0, stdout: '3.11.7\n', stderr: '' }, ok);
  assert.deepEqual(await checkInterpreter(r.run, 'python3'), { kind: 'ok', version: [3, 11, 7] });
  assert.deepEqual(r.calls[1], ['-c', 'import orps.cli']);
});

test('the package source: the setting, else a workspace that is the orps tree', () => {
  const files: Record<string, string> = { '/repo/pyproject.toml': '[project]\nname = "orps"\n', '/other/pyproject.toml': 'name = "x"' };
  const read = (f: string) => files[f];
  const isDir = (d: string) => d === '/src/orps' || d === '/repo';
  assert.deepEqual(choosePackageSource('/src/orps', ['/repo'], '/h', read, isDir), { kind: 'directory', path: '/src/orps' });
  assert.deepEqual(choosePackageSource('orps @ git+https://example/orps', ['/repo'], '/h', read, isDir), {
    kind: 'requirement',
    spec: 'orps @ git+https://example/orps',
  });
  assert.deepEqual(choosePackageSource('', ['/other', '/repo'], '/h', read, isDir), { kind: 'directory', path: '/repo' });
  assert.equal(choosePackageSource(undefined, ['/other'], '/h', read, isDir), undefined);
  assert.deepEqual(pipInstallArgs({ kind: 'directory', path: '/repo' }), ['-m', 'pip', 'install', '--editable', '/repo']);
  assert.deepEqual(pipInstallArgs({ kind: 'requirement', spec: 'orps==0.1' }), ['-m', 'pip', 'install', 'orps==0.1']);
});
