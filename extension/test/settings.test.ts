import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildServerEnvironment, describeEnvironment } from '../src/environment';
import {
  apiKeyEnvName,
  LIVE_SETTINGS,
  RESTART_SETTINGS,
  SERVER_SETTING_KEYS,
  serverSettingsFrom,
  toInitializationOptions,
} from '../src/settings';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const properties: Record<string, { default: unknown; description?: string; markdownDescription?: string; scope?: string }> =
  manifest.contributes.configuration.properties;

/** settings.py's defaults, camelCase. */
const SERVER_DEFAULTS: Record<string, unknown> = {
  baseUrl: null,
  model: null,
  modelPath: null,
  apiKeyEnv: 'ORPS_API_KEY',
  beamWidth: 3,
  children: 3,
  rounds: 2,
  maxCalls: 30,
  temperature: 0.5,
  maxTokens: 1500,
  seed: 0,
  concurrency: null,
  timeoutSeconds: 5,
  memoryLimitMb: 1024,
  isolation: 'auto',
  scratchLimitMb: 256,
  requestTimeoutSeconds: 120,
  generateTests: true,
  generateTestsBelow: 5,
  scale: true,
  maxScale: 1048576,
  cache: true,
  cacheDir: null,
  prefixReuse: true,
};

test('package.json contributes every server setting with its default, a description and a scope', () => {
  for (const key of SERVER_SETTING_KEYS) {
    const property = properties[`orps.${key}`];
    assert.ok(property, `orps.${key} is contributed`);
    assert.deepEqual(property.default, SERVER_DEFAULTS[key], `default of orps.${key}`);
    assert.ok(property.description || property.markdownDescription, `orps.${key} has a description`);
    assert.ok(property.scope, `orps.${key} has a scope`);
  }
  for (const key of ['orps.server.interpreter', 'orps.trace.server', 'orps.server.packageSource', 'orps.saveOnAccept']) {
    assert.ok(properties[key]?.scope, `${key} is contributed with a scope`);
  }
  assert.deepEqual(properties['orps.trace.server'].default, 'off');
});

test('the defaults match the Python settings model', (t) => {
  const python = process.env.ORPS_PYTHON ?? 'python3';
  const script =
    'import json,sys; sys.path[:0]=["server","sandbox"]; from orps.settings import Settings; ' +
    'print(json.dumps(Settings().model_dump(by_alias=True)))';
  const run = spawnSync(python, ['-c', script], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) {
    t.skip(`no Python with pydantic to compare against (${python})`);
    return;
  }
  const defaults = JSON.parse(run.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(defaults).sort(), [...SERVER_SETTING_KEYS].sort());
  for (const key of SERVER_SETTING_KEYS) {
    assert.deepEqual(properties[`orps.${key}`].default, defaults[key], `default of orps.${key}`);
  }
});

test('settings become initializationOptions; empty strings mean unset', () => {
  const values: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    values[name.replace(/^orps\./, '')] = property.default;
  }
  const options = toInitializationOptions((key) => values[key]);
  assert.deepEqual(options, SERVER_DEFAULTS);
  values.baseUrl = ' http://127.0.0.1:8080/v1 ';
  values.model = '';
  values.beamWidth = 2;
  values.cache = false;
  values.apiKeyEnv = '';
  const changed = toInitializationOptions((key) => values[key]);
  assert.equal(changed.baseUrl, 'http://127.0.0.1:8080/v1');
  assert.equal(changed.model, null);
  assert.equal(changed.beamWidth, 2);
  assert.equal(changed.cache, false);
  assert.equal('apiKeyEnv' in changed, false);
  assert.equal('interpreter' in changed, false);
});

test('workspace/configuration answers carry only server keys', () => {
  const section = {
    model: 'gpt',
    beamWidth: 4,
    server: { interpreter: '/usr/bin/python3' },
    trace: { server: 'verbose' },
    saveOnAccept: true,
  };
  assert.deepEqual(serverSettingsFrom(section), { model: 'gpt', beamWidth: 4 });
  assert.equal(serverSettingsFrom(null), null);
});

test('only the interpreter and the API key variable restart the server; the rest applies live', () => {
  assert.deepEqual([...RESTART_SETTINGS].sort(), ['orps.apiKeyEnv', 'orps.server.interpreter']);
  assert.ok(LIVE_SETTINGS.includes('orps.model'));
  assert.ok(LIVE_SETTINGS.includes('orps.beamWidth'));
  assert.ok(!LIVE_SETTINGS.includes('orps.apiKeyEnv'));
  assert.ok(!LIVE_SETTINGS.includes('orps.trace.server'));
  assert.ok(!LIVE_SETTINGS.includes('orps.server.interpreter'));
});

test('the API key travels in the environment variable apiKeyEnv names', () => {
  const env = buildServerEnvironment({ PATH: '/bin', GONE: undefined }, 'MY_KEY', 'sk-123');
  assert.equal(env.MY_KEY, 'sk-123');
  assert.equal(env.PATH, '/bin');
  assert.equal('GONE' in env, false);
  assert.deepEqual(describeEnvironment(env, ['MY_KEY']), ['MY_KEY=<set from secret storage>']);
  const none = buildServerEnvironment({ PATH: '/bin' }, 'MY_KEY', undefined);
  assert.equal('MY_KEY' in none, false);
  assert.equal(apiKeyEnvName({ apiKeyEnv: 'OPENAI_API_KEY' }), 'OPENAI_API_KEY');
  assert.equal(apiKeyEnvName({ apiKeyEnv: 'not a name' }), 'ORPS_API_KEY');
  assert.equal(apiKeyEnvName({}), 'ORPS_API_KEY');
});

test('every command the manifest lists is one the extension registers', async () => {
  const { Commands } = await import('../src/statusView');
  const contributed = (manifest.contributes.commands as Array<{ command: string; category: string }>).map((c) => c.command);
  assert.deepEqual(contributed.sort(), Object.values(Commands).sort());
  // The server's own command names stay free for the language client.
  for (const command of contributed) {
    assert.ok(!['orps.refine', 'orps.cancel', 'orps.accept', 'orps.showCandidates'].includes(command));
  }
});
