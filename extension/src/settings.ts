/**
 * The extension's settings: which `orps.*` keys belong to the server, and how they become the
 * server's `initializationOptions` and its `workspace/configuration` answers.
 *
 * The keys mirror `server/orps/settings.py` (camelCase on the wire). Client-only keys
 * (`orps.server.*`, `orps.trace.server`, `orps.saveOnAccept`) are never sent, so the server does
 * not complain about unknown settings.
 */

export const SECTION = 'orps';

/** Server settings whose empty string means "unset" (null on the wire). */
const NULLABLE_STRINGS = ['baseUrl', 'model', 'modelPath', 'cacheDir'] as const;

export const SERVER_SETTING_KEYS = [
  'baseUrl',
  'model',
  'modelPath',
  'apiKeyEnv',
  'beamWidth',
  'children',
  'rounds',
  'maxCalls',
  'temperature',
  'maxTokens',
  'seed',
  'concurrency',
  'timeoutSeconds',
  'memoryLimitMb',
  'isolation',
  'scratchLimitMb',
  'requestTimeoutSeconds',
  'generateTests',
  'generateTestsBelow',
  'scale',
  'maxScale',
  'cache',
  'cacheDir',
  'prefixReuse',
] as const;

export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];
export type ServerSettings = Partial<Record<ServerSettingKey, unknown>>;

export const DEFAULT_API_KEY_ENV = 'ORPS_API_KEY';

/** Client settings. */
export const INTERPRETER_SETTING = 'server.interpreter';
export const PACKAGE_SOURCE_SETTING = 'server.packageSource';
export const SAVE_ON_ACCEPT_SETTING = 'saveOnAccept';
export const TRACE_SETTING = 'trace.server';

/** Settings whose change restarts the server: the interpreter that runs it, and the name of the
 * environment variable that carries the API key into its environment. */
export const RESTART_SETTINGS: readonly string[] = [`${SECTION}.${INTERPRETER_SETTING}`, `${SECTION}.apiKeyEnv`];

/** Server settings the server reloads live (`workspace/didChangeConfiguration`), no restart. */
export const LIVE_SETTINGS: readonly string[] = SERVER_SETTING_KEYS.filter((k) => k !== 'apiKeyEnv').map(
  (k) => `${SECTION}.${k}`,
);

function cleanValue(key: ServerSettingKey, value: unknown): unknown {
  if ((NULLABLE_STRINGS as readonly string[]).includes(key) && typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? null : trimmed;
  }
  return value;
}

/**
 * The server's settings from a getter of `orps.<key>` values (VS Code's configuration, which
 * already holds the defaults of package.json). Undefined values are left out, so the server uses
 * its own default; an empty `apiKeyEnv` is left out too.
 */
export function toInitializationOptions(get: (key: string) => unknown): ServerSettings {
  const out: ServerSettings = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = cleanValue(key, get(key));
    if (value === undefined) {
      continue;
    }
    if (key === 'apiKeyEnv' && (typeof value !== 'string' || value.trim() === '')) {
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** The server's part of a `workspace/configuration` answer for section `orps`. */
export function serverSettingsFrom(section: unknown): unknown {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) {
    return section;
  }
  const record = section as Record<string, unknown>;
  return toInitializationOptions((key) => record[key]);
}

/** The name of the environment variable that carries the API key to the server. */
export function apiKeyEnvName(settings: ServerSettings): string {
  const name = settings.apiKeyEnv;
  return typeof name === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name.trim())
    ? name.trim()
    : DEFAULT_API_KEY_ENV;
}
