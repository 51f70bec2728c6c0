// How a reader of guest data runs (docs/file-level-restore.md#the-fast-path): as the point's own
// uid when we are root (./reader-user.ts, setpriv), without network (unshare -n, root only), in
// nbdfuse's private mount namespace (root only), killed with us (pdeathsig) with all it started (a
// PID namespace of its own, root only), its time bounded and its output capped. A crafted
// filesystem can make it fail, never hang the hub. A reader that
// leaves root itself (the FAT walker) starts as root with a few capabilities and no new privileges.
// Each reader leads a process group of its own: a stopped reader is stopped with whatever it
// started (a shell's ntfscat), which would otherwise hold its output open and the hub waiting.

import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { SendenseError } from '../../errors.js';
import { childEnv } from '../../process/child-env.js';
import type { ReaderUser } from './reader-user.js';

/** How one point's readers run: as whom, and (once nbdfuse runs) in which mount namespace. */
export interface ReaderSandbox {
  /** Undefined when we are not root: the readers run as us. */
  readonly user: ReaderUser | undefined;
  /** An open fd of nbdfuse's private mount namespace, the only one where its disk file is. */
  readonly mountNamespace?: number;
}

// The namespace fd, passed to the reader as its fd 3.
// What a reader that leaves root itself keeps until it does: reading any file, changing its ids.
const ROOT_CAPABILITIES = '-all,+dac_override,+dac_read_search,+setuid,+setgid';
const NAMESPACE_FD = 3;
// Run by `sh -c` in nbdfuse's new mount namespace: fusermount3 (setuid) must find the reader's uid
// in /etc/passwd, so a copy naming it is bound over /etc/passwd there only; then the rest runs.
const BIND_PASSWD = 'mount --bind -- "$1" /etc/passwd && shift && exec "$@"';

// The argv of a reader. fusermount3 is setuid: nbdfuse needs new privileges; debugfs gets none.
// As root, nbdfuse starts in a new mount namespace (`passwd`), and the others enter it.
// `dropsRoot`: the reader starts as root, able to load node and its script from a folder only root
// may enter (a clone in a `mktemp -d`, a Node.js under /root), and becomes the point's uid itself
// before it reads the guest; until then it may only change its ids and read files.
export function sandboxArgv(
  argv: readonly string[],
  sandbox: ReaderSandbox,
  options: {
    readonly newPrivileges?: boolean;
    readonly passwd?: string;
    readonly dropsRoot?: boolean;
    /** A PID namespace of its own (a reader of guest data; not nbdfuse, which unmounts on SIGTERM). */
    readonly ownPids?: boolean;
  } = {},
): string[] {
  const privs = options.newPrivileges ? [] : ['--no-new-privs'];
  const { user } = sandbox;
  if (user === undefined) return ['setpriv', ...privs, '--pdeathsig', 'KILL', '--', ...argv];
  const setpriv = [
    'setpriv',
    ...(options.dropsRoot ? [`--bounding-set=${ROOT_CAPABILITIES}`] : [`--reuid=${user.uid}`, `--regid=${user.gid}`]),
    '--clear-groups',
    ...privs,
    '--pdeathsig',
    'KILL',
    '--',
    ...argv,
  ];
  if (options.passwd !== undefined)
    return [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--net',
      '--',
      'sh',
      '-c',
      BIND_PASSWD,
      'sh',
      options.passwd,
      ...setpriv,
    ];
  const enter = sandbox.mountNamespace === undefined ? [] : ['nsenter', `--mount=/proc/self/fd/${NAMESPACE_FD}`, '--'];
  if (!options.ownPids) return [...enter, 'unshare', '--net', '--', ...setpriv];
  // The reader is the first process of a PID namespace of its own: when it ends, whatever it
  // started ends with it (a shell's ntfscat, hung on a crafted filesystem), and --kill-child ends it
  // when unshare is killed, which pdeathsig does when we are killed outright.
  const pids = ['unshare', '--net', '--pid', '--fork', '--kill-child', '--'];
  return [...enter, 'setpriv', '--pdeathsig', 'KILL', '--', ...pids, ...setpriv];
}

/** The spawn stdio of a reader: its fd 3 is the mount namespace it enters, if any. */
export function sandboxStdio(
  sandbox: ReaderSandbox,
  stdin: 'ignore' | 'pipe',
): ['ignore' | 'pipe', 'pipe', 'pipe', ...number[]] {
  return sandbox.mountNamespace === undefined || sandbox.user === undefined
    ? [stdin, 'pipe', 'pipe']
    : [stdin, 'pipe', 'pipe', sandbox.mountNamespace];
}

// Readers whose output is still open, each with its group's id. Their output open, some process of
// the group holds it, so the id (the leader's pid) is still the group's: Linux gives no new process
// a pid that is a live group's id. Once it has closed, the group is not signalled again.
const openReaders = new Set<ChildProcess>();
let stopAtExit = false;

/** Starts a reader as the leader of a new process group (see stopReader). */
function spawnReader(command: string, args: readonly string[], stdio: ReturnType<typeof sandboxStdio>): ChildProcess {
  const child = spawn(command, args, {
    stdio,
    detached: true,
    env: childEnv({ DEBUGFS_PAGER: '__none__', PAGER: '__none__', TZ: 'UTC' }),
  });
  if (child.pid !== undefined) {
    openReaders.add(child);
    child.once('close', () => openReaders.delete(child));
  }
  // A command that ends (Ctrl+C included: a reader's group no longer gets the terminal's SIGINT)
  // stops the readers it leaves; pdeathsig stops their leaders if it is killed outright.
  if (!stopAtExit) {
    stopAtExit = true;
    process.once('exit', () => {
      for (const reader of openReaders) stopReader(reader);
    });
  }
  return child;
}

// SIGKILL to the reader's whole group: the leader and what it started, which would otherwise hold
// its output open (and the hub waiting on it) after the leader is gone.
function stopReader(child: ChildProcess): void {
  if (!openReaders.has(child)) return;
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // ESRCH: nothing of it is left.
  }
}

export interface ReaderOutput {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly exitCode: number;
}

// A reader's run may last this many of its timeouts in all, answering all along.
const LONGEST_RUN = 15;

// One run of a reader: its output once it exits; silence past its timeout, too long a run or too
// much output kills it.
export function runSandboxed(
  argv: readonly string[],
  options: {
    readonly sandbox: ReaderSandbox;
    /** The reader becomes the sandbox's uid itself (see sandboxArgv). */
    readonly dropsRoot?: boolean;
    /** Exit codes that are answers, not failures (blkid's 2: nothing found); default 0 only. */
    readonly answers?: readonly number[];
    readonly input?: string;
    readonly timeoutMs: number;
    readonly maxBytes: number;
    readonly what: string;
  },
): Promise<ReaderOutput> {
  const [command, ...args] = sandboxArgv(argv, options.sandbox, { dropsRoot: options.dropsRoot, ownPids: true });
  return new Promise((resolve, reject) => {
    const child = spawnReader(
      command,
      args,
      sandboxStdio(options.sandbox, options.input === undefined ? 'ignore' : 'pipe'),
    );
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
      stopReader(child);
    };
    // timeoutMs without a byte of answer (a hung tool), or LONGEST_RUN times it in all (one that
    // drips): a batch of many entries answers entry by entry, and on a loaded host takes longer in all.
    const silent = () =>
      stop(new SendenseError(`${options.what}: no answer in ${options.timeoutMs / 1000} s (stopped)`));
    let timer = setTimeout(silent, options.timeoutMs);
    const longest = setTimeout(
      () =>
        stop(
          new SendenseError(
            `${options.what}: still answering after ${(LONGEST_RUN * options.timeoutMs) / 1000} s (stopped)`,
          ),
        ),
      LONGEST_RUN * options.timeoutMs,
    );
    const clearTimers = () => {
      clearTimeout(timer);
      clearTimeout(longest);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      clearTimeout(timer);
      timer = setTimeout(silent, options.timeoutMs);
      outBytes += chunk.length;
      if (outBytes > options.maxBytes)
        stop(new SendenseError(`${options.what}: more than ${options.maxBytes} bytes of answer (stopped)`));
      else out.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimers();
      reject(new SendenseError(`${options.what}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimers();
      if (failure) reject(failure);
      else if (code === null || !(options.answers ?? [0]).includes(code))
        reject(new SendenseError(`${options.what}: ended with ${signal ?? `exit code ${code}`}: ${stderr.trim()}`));
      else resolve({ stdout: Buffer.concat(out), stderr, exitCode: code });
    });
  });
}

// One run of a reader whose output `read` takes as it comes (a file's bytes); no output for
// `idleMs` kills it. Its stderr is given back with what `read` made of the bytes.
export async function streamSandboxed<T>(
  argv: readonly string[],
  options: {
    readonly sandbox: ReaderSandbox;
    readonly dropsRoot?: boolean;
    readonly idleMs: number;
    readonly what: string;
  },
  read: (bytes: AsyncIterable<Buffer>) => Promise<T>,
): Promise<{ readonly value: T; readonly stderr: string }> {
  const [command, ...args] = sandboxArgv(argv, options.sandbox, { dropsRoot: options.dropsRoot, ownPids: true });
  const child = spawnReader(command, args, sandboxStdio(options.sandbox, 'ignore'));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
  });
  let idle: SendenseError | undefined;
  let timer: NodeJS.Timeout | undefined;
  const wake = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = new SendenseError(`${options.what}: no bytes in ${options.idleMs / 1000} s (stopped)`);
      stopReader(child);
    }, options.idleMs);
  };
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (error) => reject(new SendenseError(`${options.what}: ${error.message}`, { cause: error })));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Piped at once: `read` may start after an await, and Node resumes (drops) the output of a child
  // that has exited when nothing listens to it yet; a small file would arrive empty.
  const output = new PassThrough();
  child.stdout!.pipe(output);
  async function* chunks(): AsyncGenerator<Buffer> {
    wake();
    for await (const chunk of output) {
      wake();
      yield chunk as Buffer;
    }
  }
  try {
    const value = await read(chunks());
    const { code, signal } = await closed;
    if (idle) throw idle;
    if (code !== 0)
      throw new SendenseError(`${options.what}: ended with ${signal ?? `exit code ${code}`}: ${stderr.trim()}`);
    return { value, stderr };
  } catch (error) {
    stopReader(child);
    await closed.catch(() => {});
    throw idle ?? error;
  } finally {
    clearTimeout(timer);
  }
}
