// How a reader of guest data runs (docs/file-level-restore.md#the-fast-path): as `nobody` when we
// are root (setpriv), without network (unshare -n, root only), killed with us (pdeathsig), its
// time bounded and its output capped. A crafted filesystem can make it fail, never hang the hub.

import { spawn } from 'node:child_process';
import { SendenseError } from '../../errors.js';
import { childEnv } from '../../process/child-env.js';

/** The user a reader runs as when we are root. */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;

export function runsAsRoot(): boolean {
  return process.getuid?.() === 0;
}

// fusermount3 is setuid: nbdfuse needs new privileges; debugfs gets none.
export function sandboxArgv(argv: readonly string[], options: { readonly newPrivileges?: boolean } = {}): string[] {
  const privs = options.newPrivileges ? [] : ['--no-new-privs'];
  if (!runsAsRoot()) return ['setpriv', ...privs, '--pdeathsig', 'KILL', '--', ...argv];
  return [
    'unshare',
    '--net',
    '--',
    'setpriv',
    `--reuid=${SANDBOX_UID}`,
    `--regid=${SANDBOX_GID}`,
    '--clear-groups',
    ...privs,
    '--pdeathsig',
    'KILL',
    '--',
    ...argv,
  ];
}

export interface ReaderOutput {
  readonly stdout: Buffer;
  readonly stderr: string;
}

// One run of a reader: its output once it exits; a timeout or too much output kills it.
export function runSandboxed(
  argv: readonly string[],
  options: { readonly input?: string; readonly timeoutMs: number; readonly maxBytes: number; readonly what: string },
): Promise<ReaderOutput> {
  const [command, ...args] = sandboxArgv(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: childEnv({ DEBUGFS_PAGER: '__none__', PAGER: '__none__', TZ: 'UTC' }),
    });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}); // a reader that ended early: its exit says why
      child.stdin!.end(options.input);
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let failure: SendenseError | undefined;
    const stop = (error: SendenseError) => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(new SendenseError(`${options.what}: no answer in ${options.timeoutMs / 1000} s (stopped)`)),
      options.timeoutMs,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > options.maxBytes)
        stop(new SendenseError(`${options.what}: more than ${options.maxBytes} bytes of answer (stopped)`));
      else out.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new SendenseError(`${options.what}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (code !== 0)
        reject(new SendenseError(`${options.what}: ended with ${signal ?? `exit code ${code}`}: ${stderr.trim()}`));
      else resolve({ stdout: Buffer.concat(out), stderr });
    });
  });
}
