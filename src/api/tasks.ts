// The API's tasks (docs/api.md#tasks): every run or long operation started through the API is the
// CLI's own command, run as a child process with --json, exactly as an operator would run it. So
// a task takes the same VM locks, queue and limits, writes the same history, and its events are
// the lines `--json` prints. Cancel is what Ctrl+C does (SIGINT to that PID). The child holds a
// pipe from this server on stdin: if the server dies, the child stops as on SIGTERM (cleaning up).
// Each task's events are also appended to TASKS_DIR/ID.jsonl, so they outlive the server.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { findPackageRoot } from '../node/package-root.js';
import { BoundedText, LineSplitter } from '../node/output-lines.js';
import { processStartTicks } from '../process/process-identity.js';
import { signalProcess } from '../process/terminate-process.js';
import { maskSecrets } from '../secrets/mask.js';
import type { ApiTask } from '../store/api-records.js';
import type { Store } from '../store/index.js';
import { newId, nowIso } from '../store/new-id.js';
import { TASK_REQUEST_ENV, taskRequestLine, type TaskRequest } from '../task/task-request.js';
import { makePrivateDir } from './state-dir.js';
import { TasksLeftRunning } from './tasks-left-running.js';

export type TaskStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'refused' | 'lost';

export interface TaskEvent {
  /** 1, 2, …: the SSE event id (Last-Event-ID resumes after it). */
  readonly seq: number;
  readonly data: string;
}

export interface TaskStart {
  /** What it is, e.g. run, dry-run, verify, forget, failover. */
  readonly operation: string;
  /** One line for lists, e.g. "run plan web01-nightly". */
  readonly title: string;
  /** The command and its options, e.g. { command: 'run', operands: ['/etc/sendense/plans/web01.yaml'] }. */
  readonly request: TaskRequest;
  /** The token's name. */
  readonly token: string;
}

interface LiveTask {
  record: ApiTask;
  readonly events: TaskEvent[];
  readonly listeners: Set<(event: TaskEvent | undefined) => void>;
  readonly child: ChildProcess;
  readonly log: WriteStream;
  readonly ended: Promise<ApiTask>;
  /** The last `error` or failing line, for the task's error. */
  lastError?: string;
  /** Its run ended refused (another run held the VM): the task is refused, not failed. */
  refused?: boolean;
}

// A task's events kept in memory while it runs (older ones are read back from its log file).
const MEMORY_EVENTS = 20_000;

export interface TaskManagerOptions {
  readonly store: Store;
  readonly hub: string;
  /** The common options every child gets: --db, --hub-config. */
  readonly commonArgs: readonly string[];
  readonly stateDir: string;
  /** Told when a task ends (for the audit record). */
  readonly onEnd?: (task: ApiTask) => void;
}

export class TaskManager {
  private readonly live = new Map<string, LiveTask>();
  private readonly dir: string;
  private readonly bin = path.join(findPackageRoot(), 'bin', 'sendense-run.js');
  private others: TasksLeftRunning | undefined;

  constructor(private readonly options: TaskManagerOptions) {
    this.dir = makePrivateDir(path.join(options.stateDir, 'tasks'));
  }

  /**
   * The tasks other servers left running: lost when their process is gone (their runs: see history
   * and doctor), else left running and their end read from the store.
   */
  async recover(): Promise<{ readonly lost: number; readonly running: number }> {
    this.others ??= new TasksLeftRunning(this.options.store, this.options.hub, (id) => this.live.has(id));
    return this.others.recover();
  }

  async start(request: TaskStart, env: Readonly<Record<string, string>> = {}): Promise<ApiTask> {
    const id = `task-${newId()}`;
    // The request goes on the child's stdin as one JSON line, never as words of its command line.
    const child = spawn(process.execPath, [this.bin, '--json', ...this.options.commonArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env, SENDENSE_STOP_WITH_PARENT: '1', [TASK_REQUEST_ENV]: 'stdin' },
    });
    child.stdin?.write(taskRequestLine(request.request));
    const record: ApiTask = {
      id,
      operation: request.operation,
      title: request.title,
      token: request.token,
      hub: this.options.hub,
      status: 'running',
      startedAt: nowIso(),
      endedAt: null,
      exitCode: null,
      pid: child.pid ?? null,
      pidStartTicks: child.pid === undefined ? null : (processStartTicks(child.pid) ?? null),
      runId: null,
      error: null,
    };
    const log = createWriteStream(this.logFile(id), { flags: 'a', mode: 0o600 });
    let finish: (task: ApiTask) => void = () => {};
    const ended = new Promise<ApiTask>((resolve) => (finish = resolve));
    const task: LiveTask = { record, events: [], listeners: new Set(), child, log, ended };
    this.live.set(id, task);
    child.stdin?.on('error', () => {});
    const lines = new LineSplitter();
    const stderr = new BoundedText(16 * 1024);
    lines.onLine((line) => this.event(task, line));
    child.stdout?.on('data', (chunk: Buffer) => lines.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const spawned = new Promise<void>((resolve) => {
      child.once('spawn', resolve);
      child.once('error', (error) => {
        stderr.push(`cannot start sendense-run: ${error.message}\n`);
        resolve();
      });
    });
    child.once('close', (code, signal) => {
      lines.end();
      const exitCode = code ?? (signal ? 128 : 1);
      const status: TaskStatus =
        code === 0
          ? 'succeeded'
          : code === 130
            ? 'cancelled'
            : code === 2 || task.refused === true
              ? 'refused'
              : 'failed';
      const error =
        status === 'succeeded'
          ? null
          : maskSecrets(
              task.lastError ?? (stderr.toString().trim().split('\n').at(-1) || `ended by ${signal ?? `exit ${code}`}`),
            );
      task.record = { ...task.record, status, exitCode, endedAt: nowIso(), error };
      log.end();
      void this.options.store.api
        .saveTask(task.record)
        .catch(() => {})
        .finally(() => {
          for (const listener of task.listeners) listener(undefined);
          task.listeners.clear();
          this.options.onEnd?.(task.record);
          finish(task.record);
        });
    });
    await spawned;
    await this.options.store.api.saveTask(record);
    return record;
  }

  /** The task as it stands: live, else as recorded. */
  async get(id: string): Promise<ApiTask | undefined> {
    return this.live.get(id)?.record ?? (await this.options.store.api.getTask(id));
  }

  async list(limit = 100): Promise<readonly ApiTask[]> {
    const recorded = await this.options.store.api.listTasks({ limit });
    return recorded.map((task) => this.live.get(task.id)?.record ?? task);
  }

  /** Resolves when the task has ended (at once for an ended one). */
  async waitFor(id: string): Promise<ApiTask | undefined> {
    const live = this.live.get(id);
    return live ? live.ended : this.options.store.api.getTask(id);
  }

  /** Ctrl+C: SIGINT to the task's process; false when it is not running here. */
  cancel(id: string): boolean {
    const live = this.live.get(id);
    if (live === undefined || live.record.status !== 'running' || live.child.pid === undefined) return false;
    signalProcess(live.child.pid, 'SIGINT');
    return true;
  }

  /**
   * Its events after `after` (a seq), then each new one as it comes; `onEvent(undefined)` once it has
   * ended. Returns the unsubscribe function.
   */
  follow(id: string, after: number, onEvent: (event: TaskEvent | undefined) => void): () => void {
    const live = this.live.get(id);
    const past = live ? this.pastEvents(live, after) : this.readLog(id).filter((event) => event.seq > after);
    for (const event of past) onEvent(event);
    if (live === undefined || live.record.status !== 'running') {
      onEvent(undefined);
      return () => {};
    }
    live.listeners.add(onEvent);
    return () => live.listeners.delete(onEvent);
  }

  /** Every running task asked to stop (SIGTERM: they clean up), then waited for. */
  async stopAll(): Promise<void> {
    this.others?.stop();
    const running = [...this.live.values()].filter((task) => task.record.status === 'running');
    for (const task of running) if (task.child.pid !== undefined) signalProcess(task.child.pid, 'SIGTERM');
    await Promise.all(running.map((task) => task.ended));
  }

  runningCount(): number {
    return [...this.live.values()].filter((task) => task.record.status === 'running').length;
  }

  private event(task: LiveTask, line: string): void {
    if (line.trim() === '') return;
    const data = maskSecrets(line);
    const event = { seq: (task.events.at(-1)?.seq ?? 0) + 1, data };
    task.events.push(event);
    if (task.events.length > MEMORY_EVENTS) task.events.splice(0, task.events.length - MEMORY_EVENTS);
    task.log.write(`${data}\n`);
    this.noteFacts(task, data);
    for (const listener of task.listeners) listener(event);
  }

  // The run id of a run task, and the message of a failure, from its events.
  private noteFacts(task: LiveTask, data: string): void {
    let parsed: { type?: string; runId?: string; message?: string; error?: string; status?: string } | undefined;
    try {
      parsed = JSON.parse(data) as typeof parsed;
    } catch {
      return;
    }
    if (parsed?.type === 'run-start' && typeof parsed.runId === 'string' && task.record.runId === null) {
      task.record = { ...task.record, runId: parsed.runId };
      void this.options.store.api.saveTask(task.record).catch(() => {});
    }
    if (parsed?.type === 'error' && typeof parsed.message === 'string') task.lastError = parsed.message;
    if (parsed?.type === 'step-fail' && typeof parsed.error === 'string') task.lastError = parsed.error;
    if (parsed?.type === 'run-end' && typeof parsed.error === 'string') task.lastError = parsed.error;
    if (parsed?.type === 'run-end' && parsed.status === 'refused') task.refused = true;
  }

  private pastEvents(task: LiveTask, after: number): readonly TaskEvent[] {
    const first = task.events[0]?.seq ?? 1;
    if (after + 1 >= first) return task.events.filter((event) => event.seq > after);
    return [...this.readLog(task.record.id).filter((event) => event.seq > after && event.seq < first), ...task.events];
  }

  private readLog(id: string): TaskEvent[] {
    const file = this.logFile(id);
    if (!/^task-[A-Za-z0-9-]+$/.test(id) || !existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((data, i) => ({ seq: i + 1, data }));
  }

  private logFile(id: string): string {
    return path.join(this.dir, `${id}.jsonl`);
  }
}
