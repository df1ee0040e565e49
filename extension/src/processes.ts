/**
 * Running a short-lived process (the interpreter checks, pip) and collecting its output.
 */

import { execFile } from 'child_process';
import { ProcessRunner } from './interpreter';

export const runProcess: ProcessRunner = (command, args, options = {}) =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        const err = error as (Error & { code?: number | string; killed?: boolean }) | null;
        if (err && typeof err.code === 'string') {
          // The process did not start (ENOENT, EACCES, ...).
          resolve({ code: null, stdout: String(stdout), stderr: String(stderr), error: `${err.code}: ${err.message}` });
          return;
        }
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
          error: err?.killed ? `timed out after ${options.timeoutMs ?? 60_000} ms` : undefined,
        });
      },
    );
  });
