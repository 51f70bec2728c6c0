// Runs the node transfer on the node and follows its JSON lines (runners/README.md, read with
// src/wire/): progress to the reporter, a per-disk result back, a clear error naming the disk when it fails.
// It starts at the run's rate and gets each change of it on stdin while it runs (docs/bandwidth.md).

import path from 'node:path';
import type { DiskServer, RunContext } from '../engine/run-context.js';
import { tuneDisks, type DiskTuning } from '../hub/disk-budget.js';
import type { RunReporter } from '../engine/run-events.js';
import type { UndoStack } from '../engine/undo-stack.js';
import { SendenseError } from '../errors.js';
import type { NodeHost, NodeProcess } from '../node/node.js';
import type { DiskKey } from '../plan/types.js';
import { describeRate, UNLIMITED, type Bandwidth, type RateNow } from '../rate/bandwidth.js';
import {
  ARGS_ON_STDIN,
  argsOnStdinLine,
  formatControlLine,
  parseTransferLine,
  transferArgv,
  type DataRange,
  type ZeroRange,
} from '../wire/index.js';
import { transferPlan, type TransferAsk, type TransferProgram } from './transfer-plan.js';

export interface TransferDiskResult {
  readonly disk: DiskKey;
  readonly bytesDone: number;
  readonly bytesToDo: number;
  readonly bytesWritten?: number;
  readonly changeId?: string;
  /** The disk's size as the source reported it (start or done line). */
  readonly virtualSize?: number;
  /** What the transfer wrote, with digests (our node transfer only; the VMware client sends none). */
  readonly digests?: WrittenRanges;
  /** What copied the data when not the transfer over NBD ("qemu-img convert", docs/how-it-works.md#a-local-full-backup). */
  readonly copiedWith?: string;
  /** How random the copied data is, sampled on the node (docs/anomaly.md#what-is-measured). */
  readonly sample?: ChangeSample;
}

/** 64 KiB blocks of a disk's copied data sampled, and how many of them do not compress. */
export interface ChangeSample {
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

/** Ranges written into a target: [offset, length, hex digest] of data, [offset, length] of zeroes. */
export interface WrittenRanges {
  readonly algorithm: string;
  readonly data: DataRange[];
  readonly zero: ZeroRange[];
}

export interface RunTransferOptions {
  readonly node: NodeHost;
  /** Our node transfer with its request, or another program (the VMware client), run as it is. */
  readonly program: TransferProgram;
  readonly reporter: RunReporter;
  readonly signal: AbortSignal;
  /** Milliseconds (timeouts.transfer, as the error names it); undefined = no limit. */
  readonly timeout?: number;
  /** What is left of `timeout` for this transfer, when earlier ones of the same step used some. */
  readonly timeoutLeft?: number;
  readonly step: string;
  /** Called once per disk the transfer reported done (its data written and flushed). */
  readonly onDiskDone?: (disk: DiskKey) => void;
  /** Our node transfer started ahead of its job (startTransferEarly), used when it is still waiting. */
  readonly early?: EarlyTransfer;
  /** The run's rate, which the request starts at: our node transfer is told each change; none = not limited. */
  readonly rates?: RateFollower;
}

/** Our node transfer, started before its job is known, waiting for its arguments on stdin. */
export interface EarlyTransfer {
  /** The waiting process, once; undefined when it is gone (then a new one is started). */
  take(): (NodeProcess & { readonly write: (text: string) => void }) | undefined;
}

// Starts our node transfer on this host before the run needs it: node's start-up and the loading
// of the transfer (~0.1 s) then overlap the steps that prepare the targets. Not on SSH nodes
// (their spawn writes the environment on stdin) nor for another program (the VMware client).
// A hub killed meanwhile closes its stdin: it exits without having started anything. Undo is data:
// the run's cleanup stops it unless its job took it (then runTransfer stops it).
export async function startTransferEarly(node: NodeHost, undo: UndoStack): Promise<EarlyTransfer | undefined> {
  if (!node.isLocal) return undefined;
  const child = node.spawn([...(await node.transferCommand()), ARGS_ON_STDIN]);
  const { write } = child;
  if (write === undefined) {
    await child.stop();
    return undefined;
  }
  let taken = false;
  let gone = false;
  void child.exited.then(() => (gone = true));
  undo.push({
    what: `stop the node transfer started ahead of its job${child.pid === undefined ? '' : ` (pid ${child.pid})`}`,
    when: 'always',
    step: 'transfer',
    held: () => !taken && !gone,
    run: () => child.stop(),
  });
  return Object.freeze({
    take: () => {
      if (taken || gone) return undefined;
      taken = true;
      return Object.freeze({ ...child, write });
    },
  });
}

export async function runTransfer(options: RunTransferOptions): Promise<TransferDiskResult[]> {
  const { reporter, signal, step, rates } = options;
  signal.throwIfAborted();
  const child = await startProgram(options);
  rates?.follow(child, (message) => reporter.emit({ type: 'warning', step, message }));
  const { done, errors } = readTransferLines(child, options);

  let timedOut = false;
  const stop = () => void child.stop();
  signal.addEventListener('abort', stop, { once: true });
  const timer =
    options.timeout === undefined
      ? undefined
      : setTimeout(
          () => {
            timedOut = true;
            void child.stop();
          },
          Math.max(0, options.timeoutLeft ?? options.timeout),
        );
  try {
    const exit = await child.exited;
    if (signal.aborted) throw signal.reason;
    if (timedOut) {
      throw new SendenseError(`the transfer did not finish within ${formatMs(options.timeout!)} (timeouts.transfer)`, {
        step,
      });
    }
    if (exit.exitCode === 0 && errors.length === 0) return [...done.values()];
    throw transferFailure(options, child, exit, errors);
  } finally {
    rates?.stop();
    signal.removeEventListener('abort', stop);
    if (timer) clearTimeout(timer);
    await child.stop();
  }
}

/** What a transfer's stdout said: each disk done, and the errors it named. */
interface TransferLines {
  readonly done: Map<DiskKey, TransferDiskResult>;
  readonly errors: { disk?: DiskKey; message: string }[];
}

// The transfer's stdout, line by line: said as the run's events, each disk's result kept.
function readTransferLines(child: NodeProcess, options: RunTransferOptions): TransferLines {
  const { reporter, step, rates } = options;
  const done = new Map<DiskKey, TransferDiskResult>();
  const sizes = new Map<DiskKey, number>();
  const written = new Map<DiskKey, WrittenRanges>();
  const errors: { disk?: DiskKey; message: string }[] = [];
  child.onStdoutLine((text) => {
    const line = parseTransferLine(text);
    if (line === undefined) return;
    if (line.type === 'text') {
      reporter.emit({ type: 'info', step, message: line.text });
    } else if (line.type === 'start' || line.type === 'progress') {
      if (line.type === 'start' && line.virtualSize !== undefined) sizes.set(line.disk, line.virtualSize);
      if (line.type === 'start' && line.wholeDisk !== undefined)
        reporter.emit({ type: 'warning', step, message: `disk ${line.disk}: ${line.wholeDisk}` });
      if (line.bytesToDo !== undefined) {
        reporter.emit({
          type: 'progress',
          disk: line.disk,
          bytesDone: line.type === 'progress' ? line.bytesDone : 0,
          bytesToDo: line.bytesToDo,
        });
      }
    } else if (line.type === 'done') {
      if (line.virtualSize !== undefined) sizes.set(line.disk, line.virtualSize);
      const result: TransferDiskResult = {
        disk: line.disk,
        bytesDone: line.bytesDone,
        bytesToDo: line.bytesToDo,
        bytesWritten: line.bytesWritten,
        changeId: line.changeId,
        virtualSize: sizes.get(line.disk),
        digests: written.get(line.disk),
        ...(line.copiedWith === undefined ? {} : { copiedWith: line.copiedWith }),
        ...(line.sampledBlocks !== undefined && {
          sample: { sampledBlocks: line.sampledBlocks, incompressibleBlocks: line.incompressibleBlocks ?? 0 },
        }),
      };
      done.set(line.disk, result);
      options.onDiskDone?.(line.disk);
      reporter.emit({ type: 'progress', disk: line.disk, bytesDone: result.bytesDone, bytesToDo: result.bytesToDo });
    } else if (line.type === 'digests') {
      const ranges = written.get(line.disk) ?? { algorithm: line.algorithm, data: [], zero: [] };
      for (const range of line.data) ranges.data.push(range);
      for (const range of line.zero) ranges.zero.push(range);
      written.set(line.disk, ranges);
    } else if (line.type === 'error') {
      errors.push({ disk: line.disk, message: line.message });
    } else if (line.type === 'rate') {
      const pid = line.pid === undefined ? '' : ` (pid ${line.pid})`;
      reporter.emit({
        type: 'info',
        step,
        message: `node transfer${pid}: ${describeRate(rates?.asked(line.bytesPerSecond) ?? { bytesPerSecond: line.bytesPerSecond ?? undefined })}`,
      });
    }
  });
  return { done, errors };
}

// Why the transfer failed: the disks' errors it named, else how the program ended and its stderr.
function transferFailure(
  options: RunTransferOptions,
  child: NodeProcess,
  exit: Awaited<NodeProcess['exited']>,
  errors: TransferLines['errors'],
): SendenseError {
  const { node, step } = options;
  const first = errors[0];
  if (first !== undefined) {
    const more =
      errors.length > 1
        ? ` (and ${errors.length - 1} more disk error(s): ${errors
            .slice(1)
            .map((e) => `disk ${e.disk}: ${e.message}`)
            .join('; ')})`
        : '';
    return new SendenseError(`${first.message}${more}`, { step, disk: first.disk });
  }
  const stderr = lastLines(child.stderrText(), 5);
  const how =
    exit.exitCode === null ? `was stopped (${exit.signal ?? 'connection lost'})` : `exited with code ${exit.exitCode}`;
  // Named as the user knows it: our node transfer, or the program the plan names (the VMware client).
  const what =
    options.program.kind === 'node-transfer' ? 'the node transfer' : path.basename(options.program.command[0]!);
  return new SendenseError(`${what} on ${node.description} ${how}${stderr ? `: ${stderr}` : ''}`, { step });
}

// The program as it is given: our node transfer's request on the stdin of the one started ahead when
// it still waits, else on a new one's command line; another program with its own argv.
async function startProgram({ node, program, signal, early }: RunTransferOptions): Promise<NodeProcess> {
  if (program.kind === 'node-transfer') {
    // A transfer started ahead has its environment already: one that needs secrets in it starts now.
    const waiting = program.env === undefined ? early?.take() : undefined;
    if (waiting !== undefined) {
      waiting.write(argsOnStdinLine(program.request));
      return waiting;
    }
  }
  const argv =
    program.kind === 'node-transfer'
      ? [...(await node.transferCommand()), ...transferArgv(program.request)]
      : program.command;
  // A cancel while the command was prepared (an install over SSH) fires no 'abort' listener later.
  signal.throwIfAborted();
  return node.spawn(argv, { env: program.env });
}

// The run's rate for one node transfer: the request carries it at start, and each change while it
// runs goes to its stdin as a control line (src/wire/transfer-control.ts), acknowledged by a rate line.
export class RateFollower {
  private last: RateNow = {};
  private unsubscribe: () => void = () => undefined;

  constructor(private readonly bandwidth: Bandwidth) {}

  // The rate the request starts at (bytes per second; undefined: none right now).
  start(): number | undefined {
    this.last = this.bandwidth.now();
    return this.last.bytesPerSecond;
  }

  // From the moment it runs; a change while it was being started (an install over SSH) is sent at once.
  follow(child: NodeProcess, warn: (message: string) => void): void {
    const send = (rate: RateNow): void => {
      this.last = rate;
      if (child.write) child.write(formatControlLine({ rate: rate.bytesPerSecond ?? null }));
      else
        warn(`cannot change the rate of the running node transfer: ${describeRate(rate)} applies from its next start`);
    };
    this.unsubscribe = this.bandwidth.onChange(send);
    const now = this.bandwidth.now();
    if (now.bytesPerSecond !== this.last.bytesPerSecond || now.why !== this.last.why) send(now);
  }

  // What the hub asked for, when the transfer's rate line confirms it (with the reason the hub knows).
  asked(bytesPerSecond: number | null): RateNow | undefined {
    return (this.last.bytesPerSecond ?? null) === bytesPerSecond ? this.last : undefined;
  }

  stop(): void {
    this.unsubscribe();
  }
}

// ", limited to 16 MiB/s (plan rate)" for a transfer step's title and --dry-run line; '' when no limit applies.
export function rateNote(bandwidth: Bandwidth | undefined, takesRate = true): string {
  if (bandwidth?.limited !== true) return '';
  return takesRate ? `, ${bandwidth.describe()}` : ', not limited (the VMware client takes no rate)';
}

function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

type TransferredDisk = {
  readonly key: DiskKey;
  bytes?: number;
  written?: WrittenRanges;
  sample?: ChangeSample;
  readonly server?: DiskServer;
};

/** What a transfer step asks of one node transfer of these disks (transfer-plan.ts builds its program). */
export type TransferAskFor<D> = (disks: readonly D[]) => TransferAsk;

/**
 * How a run's disks take turns within its hub slots (docs/how-it-works.md#the-data-path): how many at once and with
 * how many buffers each. Undefined when they all go at once: no hub slots, or a transfer that
 * takes the whole VM (the VMware client).
 */
export function diskTurns(
  run: Pick<RunContext, 'diskSlots'> & {
    readonly wholeVm?: boolean;
    readonly state: { readonly disks: readonly unknown[] };
  },
): DiskTuning | undefined {
  const { diskSlots } = run;
  if (diskSlots === undefined || run.wholeVm === true) return undefined;
  return tuneDisks(diskSlots.hub, diskSlots.granted, run.state.disks.length);
}

// The transfer step of a run (backup or restore): runs it with the run's node, reporter, signal
// and timeouts.transfer, records each disk's bytes on the run's disk jobs, returns the total and
// the per-disk results. When the disks take turns, they go a turn at a time, one node transfer
// each: a turn's qemu-nbd servers start just before it (start-qemu-nbd started the first turn's)
// and each stops as soon as its disk is done, so the hub never runs more than a turn's worth.
export async function transferForRun<D extends TransferredDisk>(
  run: Pick<RunContext, 'node' | 'reporter' | 'signal' | 'plan' | 'diskSlots' | 'bandwidth'> & {
    readonly wholeVm?: boolean;
    readonly earlyTransfer?: EarlyTransfer;
    readonly state: { readonly disks: readonly D[] };
  },
  askFor: TransferAskFor<D>,
): Promise<{ readonly total: number; readonly results: readonly TransferDiskResult[] }> {
  const { disks } = run.state;
  const bandwidth = run.bandwidth ?? UNLIMITED;
  const tuning = diskTurns(run);
  const turns = tuning === undefined ? [disks] : inGroupsOf(disks, tuning.parallelDisks);
  const stopping: Promise<void>[] = [];
  const stopFinished = (key: DiskKey) => {
    const server = disks.find((disk) => disk.key === key)?.server;
    if (server) stopping.push(server.stop().catch(() => undefined));
  };
  const startedAt = Date.now();
  const results: TransferDiskResult[] = [];
  try {
    for (const turn of turns) {
      // The last turn's servers are gone before this turn's start: never more than a turn's worth at once.
      await Promise.all(stopping.splice(0));
      await startServers(turn);
      const { program, rates } = planTurn(askFor(turn), tuning, bandwidth, run.reporter);
      const timeout = run.plan.timeouts.transfer;
      results.push(
        ...(await runTransfer({
          node: run.node,
          program,
          reporter: run.reporter,
          signal: run.signal,
          timeout,
          timeoutLeft: timeout === undefined ? undefined : timeout - (Date.now() - startedAt),
          step: 'transfer',
          onDiskDone: turns.length > 1 ? stopFinished : undefined,
          early: run.earlyTransfer,
          rates,
        })),
      );
      // Each disk's server stopped when its disk was done; any left (stop() is idempotent) go with the turn.
      if (turns.length > 1) for (const disk of turn) stopFinished(disk.key);
    }
  } finally {
    await Promise.all(stopping);
  }
  for (const result of results) {
    const disk = disks.find((d) => d.key === result.disk);
    if (disk) {
      disk.bytes = result.bytesDone;
      disk.written = result.digests;
      disk.sample = result.sample;
    }
  }
  return { total: results.reduce((sum, result) => sum + result.bytesDone, 0), results };
}

// A turn's program (transfer-plan.ts) at the run's rate now, and what tells our node transfer each change of it.
function planTurn(
  ask: TransferAsk,
  tuning: DiskTuning | undefined,
  bandwidth: Bandwidth,
  reporter: RunReporter,
): { readonly program: TransferProgram; readonly rates?: RateFollower } {
  if (ask.reads.kind === 'external-client' && bandwidth.limited) {
    reporter.emit({
      type: 'warning',
      step: 'transfer',
      message: `the VMware client (sendense-backup-client) takes no rate: this transfer is not limited (the run's rate: ${bandwidth.describe()})`,
    });
  }
  const rates = ask.reads.kind === 'node-transfer' && bandwidth.limited ? new RateFollower(bandwidth) : undefined;
  return { program: transferPlan(ask, { tuning, rate: rates?.start() }), ...(rates && { rates }) };
}

/**
 * Starts the qemu-nbd servers of these disks that are not running, all at once. Each one started
 * is registered for cleanup before this returns, even when another fails to start; then the first
 * failure (in disk order) is thrown.
 */
export async function startServers(disks: readonly { readonly server?: DiskServer }[]): Promise<void> {
  const started = await Promise.allSettled(disks.map((disk) => disk.server?.start()));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

function inGroupsOf<T>(items: readonly T[], size: number): (readonly T[])[] {
  const groups: T[][] = [];
  for (let index = 0; index < items.length; index += size) groups.push(items.slice(index, index + size));
  return groups;
}
