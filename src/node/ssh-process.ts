// Commands on a node over SSH: exec collects output, spawn keeps the channel (and so the
// program's stdin) open as its lifeline. Environment goes on stdin, never on a command line.

import type { ClientChannel } from 'ssh2';
import { pumpInto } from './channel-input.js';
import type { ExecOptions, ExecResult, NodeProcess } from './node.js';
import { BoundedText, LineSplitter } from './output-lines.js';
import { DEFAULT_STOP_GRACE_MS, exitedWithin, signalExitCode, type ExitStatus } from './exit-wait.js';
import { envPreamble, remoteCommandLine, takePidLine } from './remote-command.js';
import type { SshLink } from './ssh-link.js';

export async function execOverSsh(
  link: SshLink,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  options.signal?.throwIfAborted();
  // Backup files are opened on the hub only; a secret never crosses a link.
  if (options.secret !== undefined) throw new Error(`execOverSsh: a secret is for this host only (${argv[0]})`);
  const command = remoteCommandLine(argv);
  const preamble = envPreamble(options.env);
  const channel = await link.openExec(command);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  channel.on('data', (chunk: Buffer) => stdout.push(chunk));
  channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const status = watchExit(channel);
  // Stops a streamed stdin once the program is gone, the link lost or the caller aborted.
  const stopInput = new AbortController();
  let inputError: unknown;
  const { stdin } = options;
  if (stdin === undefined) channel.end(preamble);
  else if (stdin instanceof Uint8Array) {
    channel.write(preamble);
    channel.end(stdin);
  } else {
    // A write after the program exited is refused by the channel: nothing more to tell.
    channel.on('error', () => undefined);
    channel.write(preamble);
    pumpInto(channel, stdin, stopInput.signal).catch((error: unknown) => {
      // The source failed (a file on the hub unreadable): the program must not take what it got for all.
      inputError = error;
      channel.close();
    });
  }

  return new Promise<ExecResult>((resolve, reject) => {
    const unsubscribe = link.onLost((error) => {
      stopInput.abort();
      reject(error);
    });
    const onAbort = (): void => {
      stopInput.abort();
      channel.close();
      reject(options.signal?.reason);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void status.then(({ exitCode, signal }) => {
      stopInput.abort();
      unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      if (inputError !== undefined) {
        reject(inputError);
        return;
      }
      if (exitCode === null && signal === null) {
        reject(link.lost ?? new Error('channel closed without an exit status'));
        return;
      }
      const errText = Buffer.concat(stderr).toString();
      resolve(
        Object.freeze({
          exitCode: exitCode ?? signalExitCode(signal),
          stdout: Buffer.concat(stdout).toString(),
          stderr: takePidLine(errText)?.rest ?? errText,
        }),
      );
    });
  });
}

export function spawnOverSsh(link: SshLink, argv: readonly string[], options: ExecOptions = {}): NodeProcess {
  const command = remoteCommandLine(argv);
  const preamble = envPreamble(options.env);
  const lines = new LineSplitter();
  const stderr = new BoundedText();
  let pid: number | undefined;
  let pidPending: string | undefined = '';
  let channel: ClientChannel | undefined;
  let stopRequested = false;
  // Written before the channel is open: sent right after the environment.
  let unsent = '';
  let settle: (status: ExitStatus) => void = () => {};
  const exited = new Promise<ExitStatus>((resolve) => {
    settle = resolve;
  });

  // The first stderr line is the wrapper's PID; the rest is the program's own.
  const onStderr = (chunk: Buffer): void => {
    if (pidPending === undefined) return stderr.push(chunk);
    pidPending += chunk.toString();
    const taken = takePidLine(pidPending);
    if (!taken) return;
    pid = Number.isNaN(taken.pid) ? undefined : taken.pid;
    stderr.push(taken.rest);
    pidPending = undefined;
  };
  const onLost = link.onLost((error) => {
    stderr.push(`\n${error.message}\n`);
    settle(Object.freeze({ exitCode: null, signal: null }));
  });

  link.openExec(command).then(
    (opened) => {
      channel = opened;
      opened.on('data', (chunk: Buffer) => lines.push(chunk));
      opened.stderr.on('data', onStderr);
      opened.write(preamble);
      if (unsent !== '') opened.write(unsent);
      unsent = '';
      if (stopRequested) opened.end();
      void watchExit(opened).then((status) => {
        lines.end();
        onLost();
        settle(status);
      });
    },
    (error: Error) => {
      stderr.push(`${error.message}\n`);
      onLost();
      settle(Object.freeze({ exitCode: null, signal: null }));
    },
  );

  // Kill that PID on the node over a fresh channel; the program may already be gone.
  const killRemote = async (signal: 'TERM' | 'KILL'): Promise<void> => {
    if (pid === undefined || link.lost) return;
    await execOverSsh(link, ['kill', `-${signal}`, String(pid)]).catch(() => undefined);
  };

  const stop = async (graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> => {
    stopRequested = true;
    channel?.end();
    if (await exitedWithin(exited, graceMs)) return;
    await killRemote('TERM');
    if (await exitedWithin(exited, graceMs)) return;
    await killRemote('KILL');
    channel?.close();
    await exitedWithin(exited, graceMs);
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  return Object.freeze({
    get pid() {
      return pid;
    },
    onStdoutLine: (listener: (line: string) => void) => lines.onLine(listener),
    stderrText: () => stderr.toString(),
    exited,
    stop,
    // After the environment the channel's stdin is the program's (the wrapper execs it).
    write: (text: string) => {
      if (stopRequested) return;
      if (channel === undefined) unsent += text;
      else channel.write(text);
    },
  });
}

// Resolves when the channel closes, with the status the node reported (none = link dropped).
function watchExit(channel: ClientChannel): Promise<ExitStatus> {
  let exitCode: number | null = null;
  let signal: string | null = null;
  channel.on('exit', (code: number | null, signalName?: string) => {
    exitCode = typeof code === 'number' ? code : null;
    signal = signalName ? `SIG${signalName}` : null;
  });
  return new Promise((resolve) => {
    channel.once('close', () => resolve(Object.freeze({ exitCode, signal })));
  });
}
