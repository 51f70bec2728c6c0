// The NodeHost for this host: commands run as child processes, ports need no forwarding.

import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { execa } from 'execa';
import { secretStdio, withSecretFd } from '../qemu/secret-fd.js';
import {
  LOCAL_NODE_ID,
  type ExecOptions,
  type ExecResult,
  type NodeHost,
  type NodeProcess,
  type PortForwards,
  type SocketForwards,
} from './node.js';
import { BoundedText, LineSplitter } from './output-lines.js';
import { DEFAULT_STOP_GRACE_MS, exitedWithin, signalExitCode, type ExitStatus } from './exit-wait.js';
import { transferBundlePath } from './package-root.js';
import { childCwd } from '../process/child-cwd.js';
import { childEnv } from '../process/child-env.js';

export interface LocalNodeOptions {
  /** The node transfer bundle to run; default runners/dist/sendense-transfer.mjs of this package. */
  readonly transferBundle?: string;
}

export function createLocalNode(options: LocalNodeOptions = {}): NodeHost {
  return Object.freeze({
    description: 'this host',
    id: LOCAL_NODE_ID,
    isLocal: true,
    exec: execLocal,
    spawn: spawnLocal,
    forwardPorts: identityForwards,
    forwardSockets: identitySockets,
    connectUnixSocket: connectLocalSocket,
    transferCommand: async () => Object.freeze([process.execPath, options.transferBundle ?? transferBundlePath()]),
    close: async () => {},
  });
}

export async function execLocal(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = checkedArgv(argv);
  // Bytes given whole can be given again; a stream is read once.
  const rerunnable = !(options.stdin !== undefined && Symbol.asyncIterator in options.stdin);
  for (let attempt = 1; ; attempt += 1) {
    const result = await withSecretFd(options.secret, (fd) =>
      execa(file, args, {
        reject: false,
        // Never a secret of ours (docs/encryption.md#how-keys-work): only what the caller gives.
        env: childEnv(options.env),
        extendEnv: false,
        cwd: childCwd(),
        cancelSignal: options.signal,
        // Its own process group: a Ctrl+C in the terminal is ours to act on (a recovered domain's move
        // goes on, a thaw must finish), not a kill of the virsh or qemu-img under way.
        detached: true,
        stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe', ...secretStdio(fd)],
        stripFinalNewline: false,
      }),
    );
    if (result.isCanceled) throw options.signal?.reason ?? new Error('exec canceled');
    if (rerunnable && attempt < NEVER_RAN_ATTEMPTS && TERMINAL_SIGNALS.has(result.signal ?? '')) continue;
    // A program that could not start reads as a shell says it: not found (127), or found but not
    // startable (126: no permission, no memory for the fork), with the system's own reason.
    if (result.failed && result.exitCode === undefined && result.signal === undefined) {
      return Object.freeze({
        exitCode: result.code === 'ENOENT' ? 127 : 126,
        stdout: '',
        stderr: `${file}: ${result.shortMessage ?? 'could not start'}`,
      });
    }
    return Object.freeze({
      exitCode: result.exitCode ?? signalExitCode(result.signal),
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
    });
  }
}

// A terminal's Ctrl+C, Ctrl+\ or hangup goes to our whole process group. A child forked in that
// instant is still in the group, before it makes its own, and dies of the signal before its
// program starts; once started, in a session of its own, no terminal reaches it. So a child that
// died of one of these never ran, and runs again (docs/how-it-works.md#safety-rules).
const TERMINAL_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP']);
// Each start dies only if a signal lands in its fork-to-setsid window. One Ctrl+C costs a start
// at most; the budget is for a stream of them on loaded cores (the test sends one every 2 ms),
// where 10 starts were once all caught (1 command of 743 in CI).
const NEVER_RAN_ATTEMPTS = 100;

function spawnLocal(argv: readonly string[], options: ExecOptions = {}): NodeProcess {
  const [file, ...args] = checkedArgv(argv);
  const child = spawnChild(file, args, {
    env: childEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines = new LineSplitter();
  const stderr = new BoundedText();
  child.stdout.on('data', (chunk: Buffer) => lines.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  // The child closing its stdin early (or dying) must not crash the hub with EPIPE.
  child.stdin.on('error', () => {});

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (error) => {
      stderr.push(`${error.message}\n`);
      resolve(Object.freeze({ exitCode: null, signal: null }));
    });
    child.once('close', (code, signal) => {
      lines.end();
      resolve(Object.freeze({ exitCode: code, signal }));
    });
  });

  const stop = async (graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> => {
    child.stdin.end();
    if (await exitedWithin(exited, graceMs)) return;
    killChild(child, 'SIGTERM');
    if (await exitedWithin(exited, graceMs)) return;
    killChild(child, 'SIGKILL');
    await exited;
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  return Object.freeze({
    pid: child.pid,
    onStdoutLine: (listener: (line: string) => void) => lines.onLine(listener),
    stderrText: () => stderr.toString(),
    exited,
    stop,
    write: (text: string) => void child.stdin.write(text),
  });
}

// Exactly that child, never a name. Through its handle: once the child has exited (its output
// may stay open in a grandchild) the handle signals nothing, where its PID may name another
// process by then.
function killChild(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already exited
  }
}

async function identityForwards(ports: readonly number[]): Promise<PortForwards> {
  return Object.freeze({
    nodePorts: new Map(ports.map((port) => [port, port] as const)),
    close: async () => {},
  });
}

async function identitySockets(sockets: readonly string[]): Promise<SocketForwards> {
  return Object.freeze({
    nodeSockets: new Map(sockets.map((socket) => [socket, socket] as const)),
    close: async () => {},
  });
}

function checkedArgv(argv: readonly string[]): [string, ...string[]] {
  if (argv.length === 0 || argv[0] === '') throw new Error('empty argv');
  return [argv[0], ...argv.slice(1)];
}

// A Unix socket on this host, once connected.
function connectLocalSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
