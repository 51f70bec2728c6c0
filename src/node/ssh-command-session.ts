// One long-lived `sh` on a node that runs a run's short commands one after another, so a step's
// libvirt work (a `virsh` call per fact) costs one SSH session, not one each: every session is a
// start of the user's shell and its rc files on the node (docs/how-it-works.md#commands-on-a-node).
// Commands travel on its stdin, argv quoted; each one's end is told by a random mark only the hub
// and that `sh` know, after its stdout and its stderr, with its exit status.

import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import type { ExecResult } from './node.js';
import { signalExitCode } from './exit-wait.js';
import { remoteCommandLine, shellQuote, takePidLine } from './remote-command.js';
import type { SshLink } from './ssh-link.js';

interface Pending {
  readonly resolve: (result: ExecResult) => void;
  readonly reject: (error: unknown) => void;
}

export class SshCommandSession {
  private channel: ClientChannel | undefined;
  private readonly opening: Promise<void>;
  private readonly mark = randomBytes(16).toString('hex');
  private stdout: Buffer[] = [];
  private stderr = '';
  private pidTaken = false;
  private pending: Pending | undefined;
  private closed = false;
  private exitStatus: number | undefined;

  constructor(readonly link: SshLink) {
    // The mark is defined on stdin (never on a command line); every command's stdin is /dev/null,
    // so only the hub writes what this `sh` reads.
    // The shell's own notes ("Killed" after a command killed by a signal) go nowhere, as they did
    // when each command was the program its channel ran; the command's stderr is the channel's.
    const define =
      `exec 3>&2 2>/dev/null; sendense_run() { (exec "$@" 2>&3 3>&-) </dev/null; sendense_rc=$?; ` +
      `printf '\\n%s %s\\n' ${this.mark} "$sendense_rc"; printf '\\n%s\\n' ${this.mark} >&3; }\n`;
    this.opening = link.openExec(remoteCommandLine(['sh'])).then((channel) => {
      this.channel = channel;
      channel.on('data', (chunk: Buffer) => this.onStdout(chunk));
      channel.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk));
      channel.on('exit', (code: number | null, signalName?: string) => {
        this.exitStatus = typeof code === 'number' ? code : signalExitCode(signalName ? `SIG${signalName}` : null);
      });
      channel.once('close', () => this.end());
      // The wrapper's empty environment, then the definition.
      channel.write(`\n${define}`);
      if (this.closed) channel.end();
    });
    this.opening.catch(() => this.end());
  }

  /** Gone for good: closed, its `sh` ended, or its link lost. */
  get dead(): boolean {
    return this.closed || this.link.lost !== undefined;
  }

  /** Free for a command: open (or opening), and none running. */
  get idle(): boolean {
    return !this.dead && this.pending === undefined;
  }

  // Runs argv (no shell on the hub side: each word quoted) and collects its output and status.
  async run(argv: readonly string[], signal?: AbortSignal): Promise<ExecResult> {
    signal?.throwIfAborted();
    const line = `sendense_run ${argv.map(shellQuote).join(' ')}\n`;
    const result = new Promise<ExecResult>((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    // Settled while the session is still opening (the link lost, say): reported below, not unhandled.
    result.catch(() => undefined);
    const unsubscribe = this.link.onLost((error) => this.fail(error));
    // A command that does not answer in time is left to end by itself: this session is not used again.
    const onAbort = (): void => this.fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.opening;
      this.channel!.write(line);
      return await result;
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // Ends the `sh` (its stdin closed: it exits once its command, if any, ends).
  close(): void {
    this.closed = true;
    this.channel?.end();
  }

  private onStdout(chunk: Buffer): void {
    this.stdout.push(chunk);
    this.settleIfDone();
  }

  private onStderr(chunk: Buffer): void {
    this.stderr += chunk.toString('latin1');
    if (!this.pidTaken) {
      const taken = takePidLine(this.stderr);
      if (!taken) return;
      this.pidTaken = true;
      this.stderr = taken.rest;
    }
    this.settleIfDone();
  }

  // Both streams carry the mark once the command is over; the output before each is the command's.
  private settleIfDone(): void {
    if (!this.pending || !this.pidTaken || this.stdout.length === 0) return;
    // The mark line is the last thing on stdout: only the end is searched, however long the output.
    const tail = this.stdoutTail(this.stdout.at(-1)!.length + this.mark.length + 32);
    const tailAt = tail.bytes.indexOf(`\n${this.mark} `);
    if (tailAt === -1) return;
    const lineEnd = tail.bytes.indexOf('\n', tailAt + 1);
    if (lineEnd === -1) return;
    const errAt = this.stderr.indexOf(`\n${this.mark}\n`);
    if (errAt === -1) return;
    const out = Buffer.concat(this.stdout);
    const at = tail.start + tailAt;
    const exitCode = Number(tail.bytes.subarray(tailAt + this.mark.length + 2, lineEnd).toString());
    const result = Object.freeze({
      exitCode,
      stdout: out.subarray(0, at).toString(),
      stderr: Buffer.from(this.stderr.slice(0, errAt), 'latin1').toString(),
    });
    this.stdout = [out.subarray(tail.start + lineEnd + 1)];
    this.stderr = this.stderr.slice(errAt + this.mark.length + 2);
    const { resolve } = this.pending;
    this.pending = undefined;
    resolve(result);
  }

  // At least the last `length` bytes of stdout so far (whole chunks), and where they start.
  private stdoutTail(length: number): { readonly bytes: Buffer; readonly start: number } {
    let from = this.stdout.length;
    let taken = 0;
    while (from > 0 && taken < length) taken += this.stdout[--from]!.length;
    const start = this.stdout.slice(0, from).reduce((sum, chunk) => sum + chunk.length, 0);
    return { bytes: Buffer.concat(this.stdout.slice(from)), start };
  }

  private fail(error: unknown): void {
    this.close();
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }

  // The `sh` ended: killed on the node, its command reads as killed (as that command's own channel
  // would have told); the link dropped, or no status, as a lost channel.
  private end(): void {
    this.closed = true;
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    if (this.link.lost || this.exitStatus === undefined) {
      pending.reject(this.link.lost ?? new Error('channel closed without an exit status'));
      return;
    }
    const errText = this.pidTaken ? this.stderr : (takePidLine(this.stderr)?.rest ?? this.stderr);
    pending.resolve(
      Object.freeze({
        exitCode: this.exitStatus,
        stdout: Buffer.concat(this.stdout).toString(),
        stderr: Buffer.from(errText, 'latin1').toString(),
      }),
    );
  }
}
