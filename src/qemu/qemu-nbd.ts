// One qemu-nbd serving one image on 127.0.0.1 (or a Unix socket): started, ready when it
// answers an NBD greeting, watched for an early death, stopped by its PID.

import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants } from 'node:fs';
import path from 'node:path';
import type { ImageSecret } from './image-secret.js';
import { openSecretFd } from './secret-fd.js';
import { SendenseError } from '../errors.js';
import { qemuNbdImageArgs } from './image-opts.js';
import { isProcessAlive, processListensOn, processStartTicks, signalProcess } from '../process/index.js';
import { readNbdGreeting, type NbdAddress } from './nbd-greeting.js';
import { qemuNbdEnv } from './qemu-nbd-env.js';
import { childEnv } from '../process/child-env.js';

export interface QemuNbdOptions {
  readonly file: string;
  readonly format: 'qcow2' | 'raw';
  /** TCP port on 127.0.0.1; or give `socket`. */
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
  /** --shared: how many clients at once (the node transfer opens several connections). */
  readonly shared: number;
  readonly readOnly: boolean;
  /** -B: offer qemu:dirty-bitmap:<bitmap> to clients. */
  readonly bitmap?: string;
  /** --discard=unmap: a WRITE_ZEROES punches holes, so a written image stays sparse. */
  readonly discard?: 'unmap';
  /** --cache (qemu default: writeback). */
  readonly cache?: 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
  /**
   * --persistent, default true: without it qemu-nbd exits when the last negotiated client
   * disconnects (a probe with nbdinfo, a transfer reconnecting), which would look like a crash.
   */
  readonly persistent?: boolean;
  /**
   * NBD TLS with a pre-shared key (docs/instant-recovery.md#serving-on-a-port): the directory
   * holding keys.psk (`USER:HEXKEY`, 0600); a client without that key is refused before any option.
   */
  readonly tlsPskDir?: string;
  /** The secret of an encrypted image named by a json: filename (a qcow2 file's own is found by itself). */
  readonly secret?: ImageSecret;
  /** Writes through QEMU's compress filter (docs/encryption.md#compression): whole clusters, each written once. */
  readonly compress?: boolean;
  /** How long to wait for the first NBD greeting. Default 10 s. */
  readonly readyTimeoutMs?: number;
  /**
   * Runs under `setpriv --pdeathsig KILL` where this host has setpriv: the kernel ends it when
   * this process ends, even killed outright (all but a death in the instant before setpriv sets
   * the signal). For a qemu-nbd whose life is this process's (the node transfer's own); never for
   * one that must outlive a crash until doctor finds it.
   */
  readonly diesWithUs?: boolean;
  /**
   * Called as soon as the process exists, before it is ready: record it (and its undo) here.
   * startTicks is undefined when it has already exited.
   */
  readonly onSpawn?: (pid: number, argv: readonly string[], startTicks: number | undefined) => void | Promise<void>;
}

export interface QemuNbdExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Whether stop() asked for it. */
  readonly requested: boolean;
  readonly stderr: string;
}

export interface QemuNbd {
  readonly pid: number;
  readonly argv: readonly string[];
  /** nbd://127.0.0.1:PORT/NAME or nbd+unix:///NAME?socket=PATH */
  readonly url: string;
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
  stderrText(): string;
  readonly exited: Promise<QemuNbdExit>;
  /** Called once when it exits, whether asked to or not (the engine fails the run if not). */
  onExit(listener: (exit: QemuNbdExit) => void): void;
  /** SIGTERM to this PID, wait up to timeoutMs, then SIGKILL. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

const STDERR_LIMIT = 16 * 1024;
const TLS_ID = 'sendense-tls';
// Unref'd: a stop() that won its race must not keep the CLI alive until the timeout ends.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

function validateOptions(options: QemuNbdOptions): void {
  if ((options.port === undefined) === (options.socket === undefined)) {
    throw new Error('startQemuNbd: give exactly one of port and socket');
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
    throw new Error(`startQemuNbd: bad port ${options.port}`);
  }
  if (!Number.isInteger(options.shared) || options.shared < 1)
    throw new Error(`startQemuNbd: bad shared ${options.shared}`);
  if (options.exportName === '') throw new Error('startQemuNbd: empty export name');
}

export function qemuNbdArgv(options: QemuNbdOptions): string[] {
  return qemuNbdCommand(options).argv;
}

// The argv, and the secret an encrypted image needs on fd 3 (image-secret.ts).
function qemuNbdCommand(options: QemuNbdOptions): { readonly argv: string[]; readonly secret?: ImageSecret } {
  const image = qemuNbdImageArgs(options.file, options.format, { compress: options.compress, secret: options.secret });
  const argv = [
    'qemu-nbd',
    `--export-name=${options.exportName}`,
    `--shared=${options.shared}`,
    // Never the wildcard address (docs/how-it-works.md#safety-rules): the node reaches it through the SSH tunnel.
    ...(options.socket !== undefined ? [`--socket=${options.socket}`] : ['--bind=127.0.0.1', `--port=${options.port}`]),
    ...(options.readOnly ? ['--read-only'] : []),
    ...(options.bitmap !== undefined ? [`--bitmap=${options.bitmap}`] : []),
    ...(options.cache !== undefined ? [`--cache=${options.cache}`] : []),
    ...(options.discard !== undefined ? [`--discard=${options.discard}`] : []),
    ...(options.persistent === false ? [] : ['--persistent']),
    ...(options.tlsPskDir !== undefined
      ? ['--object', `tls-creds-psk,id=${TLS_ID},endpoint=server,dir=${options.tlsPskDir}`, `--tls-creds=${TLS_ID}`]
      : []),
    // A qcow2 with small L2 caches, whatever its size (image-opts.ts).
    ...image.args,
  ];
  return { argv, secret: image.secret };
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^qemu-nbd: /, '').trim())
    .filter(Boolean)
    .join('; ');
}

export async function startQemuNbd(options: QemuNbdOptions): Promise<QemuNbd> {
  validateOptions(options);
  const { argv, secret } = qemuNbdCommand(options);
  const where = options.socket !== undefined ? `socket ${options.socket}` : `127.0.0.1:${options.port}`;
  const address: NbdAddress =
    options.socket !== undefined ? { socket: options.socket } : { host: '127.0.0.1', port: options.port! };
  const url =
    options.socket !== undefined
      ? `nbd+unix:///${options.exportName}?socket=${options.socket}`
      : `nbd://127.0.0.1:${options.port}/${options.exportName}`;

  // Own process group: a Ctrl+C on the terminal reaches the runner, which stops qemu-nbd in order.
  // setpriv execs qemu-nbd in place: the PID and what /proc shows are qemu-nbd's.
  const command =
    options.diesWithUs === true && setprivFound() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  const secretFd = secret === undefined ? undefined : openSecretFd(secret);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe', ...(secretFd === undefined ? [] : [secretFd])],
      detached: true,
      env: qemuNbdEnv(childEnv()),
    });
  } finally {
    // qemu-nbd has its own copy (it reads the secret as it starts); ours goes at once.
    if (secretFd !== undefined) closeSync(secretFd);
  }
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_LIMIT);
  });
  let requested = false;
  const listeners: ((exit: QemuNbdExit) => void)[] = [];
  const exited = new Promise<QemuNbdExit>((resolve) => {
    child.on('error', (error) => {
      stderr ||= error.message;
      if (child.pid === undefined) resolve(Object.freeze({ exitCode: null, signal: null, requested, stderr }));
    });
    // 'close' (not 'exit'): stderr is fully read by then.
    child.on('close', (exitCode, signal) => resolve(Object.freeze({ exitCode, signal, requested, stderr })));
  });
  let exit: QemuNbdExit | undefined;
  void exited.then((value) => {
    exit = value;
    for (const listener of listeners.splice(0)) listener(value);
  });

  const failure = (result: QemuNbdExit): SendenseError => {
    if (child.pid === undefined)
      return new SendenseError(`cannot start qemu-nbd for ${options.file}: ${result.stderr}`);
    if (/Address already in use/i.test(result.stderr)) {
      return new SendenseError(`qemu-nbd for ${options.file} cannot listen on ${where}: the port is already in use`);
    }
    const how = result.signal !== null ? `signal ${result.signal}` : `code ${result.exitCode}`;
    return new SendenseError(
      `qemu-nbd for ${options.file} on ${where} exited (${how}): ${oneLine(result.stderr) || 'no output'}`,
    );
  };

  let stopping: Promise<void> | undefined;
  const handle: QemuNbd = Object.freeze({
    pid: child.pid ?? -1,
    argv: Object.freeze(argv),
    url,
    port: options.port,
    socket: options.socket,
    exportName: options.exportName,
    stderrText: () => stderr,
    exited,
    onExit(listener: (exit: QemuNbdExit) => void) {
      if (exit !== undefined) listener(exit);
      else listeners.push(listener);
    },
    stop(timeoutMs = 5000) {
      stopping ??= (async () => {
        if (exit !== undefined || child.pid === undefined) return;
        requested = true;
        const pid = child.pid;
        const gone = () => exit !== undefined;
        const wait = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(gone)]);
        signalProcess(pid, 'SIGTERM');
        if (await wait(timeoutMs)) return;
        signalProcess(pid, 'SIGKILL');
        if (!(await wait(5000))) throw new Error(`qemu-nbd ${pid} survived SIGKILL`);
      })();
      return stopping;
    },
  });

  if (child.pid === undefined) throw failure(await exited);
  try {
    await options.onSpawn?.(child.pid, handle.argv, processStartTicks(child.pid));
    await waitUntilReady();
  } catch (error) {
    // Already dead (a zombie not yet reaped): let its own exit arrive before stop() claims it.
    if (exit === undefined && !isProcessAlive(child.pid)) await Promise.race([exited, sleep(1000)]);
    await handle.stop();
    // When it died on its own, what qemu-nbd said is the real story (not a failed onSpawn).
    if (exit !== undefined && !exit.requested) throw failure(exit);
    throw error;
  }
  return handle;

  async function waitUntilReady(): Promise<void> {
    const timeoutMs = options.readyTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exit !== undefined) throw failure(exit);
      const greeted = await Promise.race([readNbdGreeting(address, 500), exited.then(() => false)]);
      if (exit !== undefined) throw failure(exit);
      if (greeted && (options.port === undefined || processListensOn(child.pid!, options.port) !== false)) return;
      if (Date.now() > deadline) {
        throw new SendenseError(
          `qemu-nbd for ${options.file} on ${where} did not accept NBD connections within ${timeoutMs / 1000} s`,
        );
      }
      await Promise.race([sleep(10), exited]);
    }
  }
}

// Whether setpriv (util-linux) is on PATH; asked once.
let setpriv: boolean | undefined;
function setprivFound(): boolean {
  setpriv ??= (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir || '.', 'setpriv'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return setpriv;
}
