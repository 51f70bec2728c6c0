// A long-lived libguestfs handle in runners/guestfs-agent.pl, called over JSON lines: one
// appliance serves every operation of a command. Closing stdin ends it; this process dying ends it
// even in the middle of a call (its fd 3, a lifeline: docs/file-level-restore.md#an-appliance-never-outlives-its-command).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { LineSplitter } from '../node/output-lines.js';
import { findPackageRoot } from '../node/package-root.js';
import { childEnv } from '../process/child-env.js';

// Bytes travel as \u00XX escapes (the agent is byte-exact); a string is UTF-8, a Buffer its bytes as they are.
const toWire = (value: unknown): unknown =>
  typeof value === 'string'
    ? Buffer.from(value, 'utf8').toString('latin1')
    : Buffer.isBuffer(value)
      ? value.toString('latin1')
      : Array.isArray(value)
        ? value.map(toWire)
        : value;

// Strings of a result decoded as UTF-8, or (bytes) kept as Buffers: names that may not be UTF-8.
function fromWire(value: unknown, bytes = false): unknown {
  if (typeof value === 'string')
    return bytes ? Buffer.from(value, 'latin1') : Buffer.from(value, 'latin1').toString('utf8');
  if (Array.isArray(value)) return value.map((item) => fromWire(item, bytes));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v, bytes)]));
  return value;
}

/** A method's optional arguments, as Sys::Guestfs takes them (a list: add_drive's server). */
export type GuestfsOptArgs = Readonly<Record<string, string | number | readonly string[]>>;

export class GuestfsCallError extends Error {
  constructor(
    readonly method: string,
    message: string,
  ) {
    super(message);
    this.name = 'GuestfsCallError';
  }
}

interface Pending {
  readonly method: string;
  readonly bytes: boolean;
  readonly resolve: (result: unknown[]) => void;
  readonly reject: (error: Error) => void;
}

export class GuestfsAgent {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';
  private exited: Error | undefined;
  readonly exit: Promise<number | null>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    const lines = new LineSplitter();
    lines.onLine((line) => this.answer(line));
    child.stdout.on('data', (chunk: Buffer) => lines.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000)));
    child.stdin.on('error', () => {});
    // The lifeline carries nothing; its end here closes when the agent has ended, or with this process.
    const lifeline = child.stdio[3] as Socket | null;
    lifeline?.on('error', () => {});
    child.once('exit', () => lifeline?.destroy());
    this.exit = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exited = new Error(
          `the libguestfs agent ended (${signal ?? `exit ${code}`})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`,
        );
        for (const waiter of this.pending.values()) waiter.reject(this.exited);
        this.pending.clear();
        resolve(code);
      });
    });
  }

  // Starts the agent; env adds to this process's environment (e.g. LIBGUESTFS_CACHEDIR).
  static start(env: Readonly<Record<string, string>> = {}): GuestfsAgent {
    const script = join(findPackageRoot(), 'runners', 'guestfs-agent.pl');
    // Its own process group: a terminal's Ctrl+C reaches sendense-run, which unmounts and stops it in order.
    const child = spawn('perl', [script], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: childEnv(env),
      detached: true,
    }) as unknown as ChildProcessWithoutNullStreams;
    return new GuestfsAgent(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  // The method's return in list context: a scalar is [value], a hash is [k1, v1, k2, v2, ...].
  call(method: string, args: readonly unknown[] = [], opts: GuestfsOptArgs = {}): Promise<unknown[]> {
    return this.request(method, args, opts, false);
  }

  // As call, with every string of the result a Buffer of its bytes (ls, readlinklist: guest names).
  callBytes(method: string, args: readonly unknown[] = []): Promise<unknown[]> {
    return this.request(method, args, {}, true);
  }

  private request(method: string, args: readonly unknown[], opts: GuestfsOptArgs, bytes: boolean): Promise<unknown[]> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    const request = {
      id,
      method,
      args: args.map(toWire),
      opts: Object.fromEntries(Object.entries(opts).map(([k, v]) => [k, toWire(v)])),
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, bytes, resolve, reject });
      this.child.stdin.write(`${JSON.stringify(request)}\n`);
    });
  }

  async scalar<T>(method: string, args: readonly unknown[] = []): Promise<T> {
    return (await this.call(method, args))[0] as T;
  }

  async hash(method: string, args: readonly unknown[] = []): Promise<Record<string, string>> {
    const flat = (await this.call(method, args)) as string[];
    const result: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) result[flat[i]] = flat[i + 1];
    return result;
  }

  // Closes the handle (the appliance stops) and waits for the agent to end.
  async close(): Promise<void> {
    if (this.exited === undefined) this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exit;
    clearTimeout(timer);
  }

  // For an interrupted command: the agent ends now (libguestfs's recovery process stops qemu).
  kill(): void {
    if (this.exited === undefined) this.child.kill('SIGTERM');
  }

  private answer(line: string): void {
    let reply: { id: number; ok: boolean; result?: unknown[]; error?: string };
    try {
      reply = JSON.parse(line) as typeof reply;
    } catch {
      return; // not ours (libguestfs may print to stdout in debug mode)
    }
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) waiter.resolve(fromWire(reply.result ?? [], waiter.bytes) as unknown[]);
    else waiter.reject(new GuestfsCallError(waiter.method, String(fromWire(reply.error ?? 'failed'))));
  }
}
