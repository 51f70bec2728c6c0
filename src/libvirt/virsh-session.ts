// One virsh process per libvirt URI on this host, kept while questions come
// (docs/how-it-works.md#libvirt-domains): each `virsh` process connects to libvirtd anew, and that
// connection is most of what a question costs. The session reads its commands on stdin, one per
// line, each framed by marks `echo` writes on stdout and `echo --err` on stderr, so one answer's
// output and error lines are told from the next one's.
//
// Only questions go this way (QUESTIONS: safe to ask twice), and only a clean answer is taken (its
// output, or libvirt's error lines about it: exit status 1, as virsh exits): a line about the
// session's connection, an answer that does not frame, a session busy with another question or one
// that ended means the caller asks again in a process of its own, for its own status and message.
// A change (a freeze, a job begun or aborted, a checkpoint deleted) always runs on its own.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ExecResult } from '../node/node.js';
import { childCwd } from '../process/child-cwd.js';
import { childEnv } from '../process/child-env.js';

// virsh commands that only read, whatever their options.
const QUESTIONS: ReadonlySet<string> = new Set([
  'version',
  'list',
  'domstate',
  'dominfo',
  'domjobinfo',
  'domblkinfo',
  'domblklist',
  'dumpxml',
  'backup-dumpxml',
  'checkpoint-list',
  'checkpoint-dumpxml',
  'checkpoint-info',
  'net-info',
  'net-dumpxml',
]);

// A session no question asked for this long ends (its stdin closed): a run's questions come in
// bursts a few seconds apart at most, and a long-lived process (the API) keeps no idle virsh.
const IDLE_MS = 3_000;
const STOP_GRACE_MS = 5_000;

export interface SessionQuestion {
  readonly uri: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
}

/** Whether `args` may be asked in a session: a question, every argument one line. */
export function askableInSession(args: readonly string[]): boolean {
  return QUESTIONS.has(args[0] ?? '') && args.every((arg) => !/[\n\r]/.test(arg));
}

/**
 * The answer to a question asked in this host's session for the URI, or undefined when it must be
 * asked on its own (see above). A timeout ends the session and answers as a process would (124).
 */
export async function askInSession(question: SessionQuestion): Promise<ExecResult | undefined> {
  if (!askableInSession(question.args)) return undefined;
  const env = childEnv();
  const cwd = childCwd();
  const key = `${question.uri}\n${cwd}\n${JSON.stringify(env)}`;
  let session = sessions.get(question.uri);
  if (session !== undefined && session.key !== key) {
    session.close();
    session = undefined;
  }
  if (session === undefined) {
    session = new VirshSession(question.uri, key, env, cwd);
    sessions.set(question.uri, session);
  }
  if (session.busy || session.ended) return undefined;
  return session.ask(question.args, question.timeoutMs);
}

/** Ends every session now (a test's or a command's end; otherwise each ends when idle). */
export function closeVirshSessions(): void {
  for (const session of sessions.values()) session.close();
}

const sessions = new Map<string, VirshSession>();

// virsh's command-line parser reads '...' literally, as sh does: a ' inside is '\''.
function quoted(arg: string): string {
  return `'${arg.replace(/'/g, "'\\''")}'`;
}

// What virsh prints before each line it reads when its output is not a terminal: its prompt (`#`
// for root, `$` otherwise) and the line. Absent where virsh was built without readline.
const PROMPT = /^virsh [#$>] /;

class VirshSession {
  busy = false;
  ended = false;
  private readonly child: ChildProcess;
  private stdout = '';
  private stderr = '';
  private waiter: (() => void) | undefined;
  private idle: NodeJS.Timeout | undefined;
  private count = 0;
  // Marks are printed as one word from two quoted halves: the line virsh echoes never holds one.
  private readonly prefix = `sendense-virsh-${randomBytes(6).toString('hex')}-`;

  constructor(
    private readonly uri: string,
    readonly key: string,
    env: NodeJS.ProcessEnv,
    cwd: string,
  ) {
    // Its own process group, as every command's (node/local.ts): a terminal's Ctrl+C is ours to
    // act on. It ends when its stdin closes: when we close it, or when this process ends however.
    this.child = spawn('virsh', ['--quiet', '-c', uri], {
      env,
      cwd,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (text: string) => this.heard('stdout', text));
    this.child.stderr?.on('data', (text: string) => this.heard('stderr', text));
    this.child.stdin?.on('error', () => {});
    this.child.once('error', () => this.gone());
    this.child.once('exit', () => this.gone());
    this.release();
  }

  async ask(args: readonly string[], timeoutMs: number): Promise<ExecResult | undefined> {
    this.busy = true;
    this.hold();
    const n = (this.count += 1);
    const mark = (end: 'b' | 'e') => `${this.prefix}${n}-${end}`;
    const echo = (end: 'b' | 'e', err: boolean) => `echo ${err ? '--err ' : ''}'${this.prefix}''${n}-${end}'`;
    const command = args.map(quoted).join(' ');
    const lines = [echo('b', false), echo('b', true), command, echo('e', false), echo('e', true)];
    const complete = () => this.stdout.includes(mark('e')) && this.stderr.includes(`${mark('e')}\n`);
    let timer: NodeJS.Timeout | undefined;
    try {
      this.child.stdin?.write(`${lines.join('\n')}\n`);
      const answered = await new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        const check = () => {
          if (complete()) resolve(true);
          else if (this.ended) resolve(false);
          else this.waiter = check;
        };
        check();
      });
      if (!answered) {
        const timedOut = !this.ended;
        this.close({ kill: true });
        if (!timedOut) return undefined;
        return {
          exitCode: 124,
          stdout: '',
          stderr: `virsh ${args[0]} did not answer within ${timeoutMs / 1000} s`,
        };
      }
      const out = this.take('stdout', mark('b'), mark('e'));
      const err = this.takeLines('stderr', mark('b'), mark('e'));
      if (out === undefined || err === undefined || !plainAnswer(err)) return undefined;
      const answer = withoutEchoes(out, [lines[1]!, lines[2]!], lines[3]!);
      if (answer === undefined) return undefined;
      // virsh exits 1 after a command that failed (EXIT_FAILURE), with the same lines.
      return { exitCode: err === '' ? 0 : 1, stdout: answer, stderr: err };
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
      this.busy = false;
      if (!this.ended) this.release();
    }
  }

  // Its stdin closed, virsh ends; one that did not answer in time, or does not end within
  // STOP_GRACE_MS of it, is killed: exactly this child, through its handle.
  close({ kill = false }: { readonly kill?: boolean } = {}): void {
    if (sessions.get(this.uri) === this) sessions.delete(this.uri);
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.idle);
    this.child.stdin?.end();
    const stop = () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    };
    if (kill) stop();
    else setTimeout(stop, STOP_GRACE_MS).unref();
    this.wake();
  }

  // The text between two marks of a stream, everything up to the second one dropped.
  private take(stream: 'stdout' | 'stderr', begin: string, end: string): string | undefined {
    const text = this[stream];
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    this[stream] = text.slice(to + end.length);
    if (from === -1 || to < from) return undefined;
    return text.slice(from + begin.length, to);
  }

  // The lines between the line holding one mark and the line holding the other (`echo --err`
  // prints "error: MARK"), everything up to the second line dropped.
  private takeLines(stream: 'stdout' | 'stderr', begin: string, end: string): string | undefined {
    const text = this[stream];
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    const after = text.indexOf('\n', to);
    this[stream] = text.slice(after + 1);
    if (from === -1 || to < from || after === -1) return undefined;
    const first = text.indexOf('\n', from) + 1;
    const last = text.lastIndexOf('\n', to) + 1;
    return first > last ? undefined : text.slice(first, last);
  }

  private heard(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private gone(): void {
    this.ended = true;
    clearTimeout(this.idle);
    if (sessions.get(this.uri) === this) sessions.delete(this.uri);
    this.wake();
  }

  // While a question is out, the session keeps this process running (its answer is awaited).
  private hold(): void {
    clearTimeout(this.idle);
    this.child.ref();
    for (const stream of [this.child.stdout, this.child.stderr]) (stream as { ref?: () => void } | null)?.ref?.();
  }

  // Idle, it keeps nothing running, and ends after IDLE_MS.
  private release(): void {
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr])
      (stream as { unref?: () => void } | null)?.unref?.();
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.close(), IDLE_MS);
    this.idle.unref();
  }
}

// What a question's own process would print on stderr: nothing, or libvirt's error lines about the
// question. A line about the session's connection (dropped, reconnected, failed; libvirtd went
// away) is the session's, not the question's: such an answer is asked again on its own.
function plainAnswer(stderr: string): boolean {
  if (stderr === '') return true;
  const lines = stderr.replace(/\n$/, '').split('\n');
  return lines.every((line) => line.startsWith('error: ')) && !/connect|hypervisor|end of file|keepalive/i.test(stderr);
}

// The command's own output, from what virsh printed between the marks: with readline, each line
// it read echoed after its prompt (the stderr mark's and the command's before the output, the end
// mark's after); without, the output alone. Anything else: undefined (asked again on its own).
function withoutEchoes(text: string, before: readonly string[], after: string): string | undefined {
  let rest = text;
  const echoed = PROMPT.test(rest);
  if (echoed) {
    for (const line of before) {
      const match = PROMPT.exec(rest);
      if (match === null || !rest.startsWith(`${match[0]}${line}\n`)) return undefined;
      rest = rest.slice(match[0].length + line.length + 1);
    }
    const tail = /virsh [#$>] ([^\n]*)\n$/.exec(rest);
    if (tail === null || tail[1] !== after) return undefined;
    rest = rest.slice(0, tail.index);
  }
  return rest.includes("''") && rest.includes('sendense-virsh-') ? undefined : rest;
}
