// send-points: VM by VM, under that VM's lock (no backup or merge changes its files meanwhile),
// the complete points the copy lacks are sent oldest first (docs/copies.md#what-is-sent). A point
// that cannot be sent (damaged on the hub, its parent not on the copy) is said and fails the run
// once the others are sent; a failure writing to the copy stops it at once. Every byte sent goes
// through one token bucket at the run's rate, changed at each window boundary (docs/copies.md#bandwidth).

import { finishCopyMerge, prunedOnCopy, standInOf } from '../../copy/copy-retention.js';
import { copyVm, type VmCopied } from '../../copy/copy-vm.js';
import type { Pace } from '../../copy/outgoing-bytes.js';
import type { Step } from '../../engine/step.js';
import { holdVm, type VmHold } from '../../engine/vm-turn.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import { plural } from '../../format/plural.js';
import { processStartTicks } from '../../process/index.js';
import { describeRate, UNLIMITED, type RateNow } from '../../rate/bandwidth.js';
import { bandwidthBucket } from '../../rate/bandwidth-bucket.js';
import { refuseUnfinishedMerge } from '../../retention/unfinished-merge.js';
import type { Store } from '../../store/index.js';
import { rateNote } from '../../transfer/run-transfer.js';
import { copiedTotals, type CopyRun } from './copy-run.js';
import { mergePlace, placeContext } from './open-copy.js';

// Progress events at most this often per file (and at its end).
const PROGRESS_MS = 500;

export const sendPoints: Step<CopyRun> = {
  name: 'send-points',
  title: (run) =>
    `send the points of ${run.plan.copy.vm ?? 'every VM'} the copy lacks to ${run.description}, oldest first${rateNote(run.bandwidth)}`,
  facts: (run) => ({
    ...copiedTotals(run.copied),
    vms: run.copied.map(({ vm, pointsSent, pointsThere, bytes }) => ({ vm, pointsSent, pointsThere, bytes })),
  }),
  async run(run) {
    const { plan, store } = run;
    const busy: string[] = [];
    const rate = pacedByRate(run);
    try {
      for (const vm of await vmsToCopy(store, plan.repository.path, plan.copy.vm)) {
        const hold = await takeVm(run, vm).catch((error: unknown) => {
          // Every VM: the others are copied; this one fails the run at the end.
          if (plan.copy.vm !== undefined || !isSendenseError(error)) throw error;
          run.reporter.emit({ type: 'warning', step: 'send-points', message: error.message });
          busy.push(vm);
          return undefined;
        });
        if (hold === undefined) continue;
        try {
          // A merge a killed run left on the copy is finished first: the points it touches are not sent again.
          const place = mergePlace(run);
          const finished = place === undefined ? undefined : await finishCopyMerge(place, vm, run);
          if (finished !== undefined)
            run.reporter.emit({
              type: 'info',
              step: 'send-points',
              message: `${vm}: a merge left on the copy is finished: ${finished}`,
            });
          const pruned = await prunedOnCopy(run.state, vm);
          const context = { ...pointContext(run, rate.pace), standIn: (id: string) => standInOf(pruned, id) };
          run.copied.push(
            await copyVm(
              context,
              vm,
              (id) => run.reporter.emit({ type: 'info', step: 'send-points', message: `${vm}: sending point ${id}` }),
              pruned,
            ),
          );
        } finally {
          await hold.release();
        }
        const done = run.copied.at(-1)!;
        run.reporter.emit({ type: 'info', step: 'send-points', message: vmLine(done) });
        for (const { id, why } of done.notSent)
          run.reporter.emit({ type: 'warning', step: 'send-points', message: `${vm}: point ${id} not copied: ${why}` });
      }
    } finally {
      rate.stop();
      await recordTotals(run);
    }
    const totals = copiedTotals(run.copied);
    const summary = totalsLine(totals);
    const failures = [
      ...(totals.notSent > 0 ? [`${plural(totals.notSent, 'point')} the copy lacks could not be sent`] : []),
      ...busy.map((vm) => `VM ${vm} was busy`),
    ];
    if (failures.length > 0)
      throw new SendenseError(`${summary}; ${failures.join(', ')} (see the warnings above)`, { step: 'send-points' });
    return summary;
  },
  async would(run) {
    const { plan, store } = run;
    const vms = await vmsToCopy(store, plan.repository.path, plan.copy.vm);
    if (vms.length === 0)
      return `nothing to send: no complete point of ${plan.copy.vm ?? 'any VM'} in ${plan.repository.path}`;
    const lines = [];
    for (const vm of vms) {
      const points = (await store.listBackups({ vm })).filter(
        (backup) => backup.repository === plan.repository.path && backup.status === 'complete',
      );
      lines.push(
        `${vm}: ${plural(points.length, 'complete point')} on the hub${points.length > 0 ? ` (${points[0]!.id} … ${points.at(-1)!.id})` : ''}`,
      );
    }
    const checked = plan.copy.verify ? ', each file checked against its manifest first' : '';
    const limit = run.bandwidth?.limited === true ? [`sending to the copy: ${run.bandwidth.describe()}`] : [];
    return [
      ...lines,
      `those the copy lacks are sent oldest first${checked} (the copy is not contacted in a dry run)`,
      ...limit,
    ].join('\n');
  },
};

// The VM's lock (held through the engine), so no backup or merge changes its files while they are
// read, and no merge of it left unfinished (doctor's to finish first).
export async function takeVm(run: CopyRun, vm: string): Promise<VmHold> {
  const hold = await holdVm(run, vm, 'send-points');
  try {
    await refuseUnfinishedMerge(run.store, vm, 'send-points');
  } catch (error) {
    await hold.release();
    throw error;
  }
  return hold;
}

// copy.vm, or every VM with a point in the repository.
async function vmsToCopy(store: Store, repository: string, vm: string | undefined): Promise<readonly string[]> {
  if (vm !== undefined) return [vm];
  const backups = (await store.listBackups()).filter(
    (backup) => backup.repository === repository && backup.status === 'complete',
  );
  return [...new Set(backups.map((backup) => backup.vm))].sort();
}

// The run's rate in front of every byte sent (none when not limited), said at the start and at
// each window boundary as a backup's node transfer says it.
function pacedByRate(run: CopyRun): { readonly pace?: Pace; stop(): void } {
  const bandwidth = run.bandwidth ?? UNLIMITED;
  if (!bandwidth.limited) return { stop: () => undefined };
  const say = (rate: RateNow) =>
    run.reporter.emit({ type: 'info', step: 'send-points', message: `sending to the copy: ${describeRate(rate)}` });
  const bucket = bandwidthBucket(bandwidth, say);
  say(bandwidth.now());
  return { pace: (bytes) => bucket.take(bytes, run.signal), stop: bucket.stop };
}

function pointContext(run: CopyRun, pace: Pace | undefined) {
  const { store, runId } = run;
  let last = 0;
  return {
    ...placeContext(run),
    pace,
    store,
    repository: run.plan.repository.path,
    verify: run.plan.copy.verify,
    verifyOptions: {
      onSpawn: (pid: number, argv: readonly string[], startTicks: number | undefined) =>
        store.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid)).then(() => undefined),
      onForget: (pid: number) => store.forgetProcess(pid),
    },
    progress: (disk: number, bytesDone: number, bytesToDo: number) => {
      const now = Date.now();
      if (bytesDone < bytesToDo && now - last < PROGRESS_MS) return;
      last = now;
      run.reporter.emit({ type: 'progress', disk, bytesDone, bytesToDo });
    },
  };
}

async function recordTotals(run: CopyRun): Promise<void> {
  if (run.copied.length === 0) return;
  const totals = copiedTotals(run.copied);
  await run.store.recordRunBytes(run.runId, totals.bytes);
  await run.store.noteRun(run.runId, `copy to ${run.description}: ${totalsLine(totals)}`);
}

// "pgtest1: 2 points sent (2 files, 96.0 MiB), 3 already there"
function vmLine(copied: VmCopied): string {
  return `${copied.vm}: ${sentLine(copied)}`;
}

function totalsLine(totals: ReturnType<typeof copiedTotals>): string {
  return sentLine(totals);
}

function sentLine(counts: Pick<VmCopied, 'pointsSent' | 'pointsThere' | 'filesSent' | 'filesKept' | 'bytes'>): string {
  const kept = counts.filesKept > 0 ? `, ${plural(counts.filesKept, 'file')} already in place kept` : '';
  return `${plural(counts.pointsSent, 'point')} sent (${plural(counts.filesSent, 'file')}, ${formatBytes(counts.bytes)}${kept}), ${counts.pointsThere} already there`;
}
