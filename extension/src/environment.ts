/**
 * The server process's environment: the editor's own, plus the API key from secret storage in
 * the variable the `apiKeyEnv` setting names. The key travels only here, never in settings or
 * `initializationOptions`.
 */

export type Environment = Record<string, string | undefined>;

export function buildServerEnvironment(
  base: Environment,
  apiKeyEnv: string,
  apiKey: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined) {
      env[name] = value;
    }
  }
  // Output arrives as it is written, so the log shows a crash's last words.
  env.PYTHONUNBUFFERED = '1';
  if (apiKey) {
    env[apiKeyEnv] = apiKey;
  }
  return env;
}

/** The environment with secrets masked, for the log. */
export function describeEnvironment(env: Record<string, string>, secretNames: string[]): string[] {
  return secretNames.filter((n) => env[n] !== undefined).map((n) => `${n}=<set from secret storage>`);
}
