// A run's turn at its VM (docs/how-it-works.md#busy-vms): taken before anything else, so a run that
// finds another plan's run holding the VM waits holding nothing (no port, process or disk slot),
// skips, or fails at once, as the plan's `busy` says. Polls the VM lock, which every sendense-run
// sharing the state database takes. The run's steps take the same lock again (it is the run's own).

import { SendenseError, isSendenseError } from '../errors.js';
import { formatDuration } from '../format/duration.js';
import type { RunReporter } from '../engine/run-events.js';
import type { BusyPolicy } from '../plan/types.js';
import type { Store } from '../store/index.js';

export interface VmTurnRequest {
  readonly store: Store;
  readonly vm: string;
  readonly plan: string;
  readonly runId: string;
  readonly busy: BusyPolicy;
  readonly reporter: RunReporter;
  readonly signal: AbortSignal;
}

/** The VM's lock is the run's (after waitedSeconds), or the run is to be recorded skipped for `reason`. */
export type VmTurn =
  { readonly taken: true; readonly waitedSeconds: number } | { readonly taken: false; readonly reason: string };

const POLL_MS = 1000;

export async function takeVmTurn(request: VmTurnRequest): Promise<VmTurn> {
  const { store, vm, plan, runId, busy, reporter, signal } = request;
  const started = Date.now();
  let waiting = false;
  for (;;) {
    signal.throwIfAborted();
    try {
      await store.lockVm(vm, runId, plan);
      const waitedSeconds = (Date.now() - started) / 1000;
      if (waiting) {
        await store.recordVmWait(runId, waitedSeconds);
        reporter.emit({ type: 'info', message: `VM ${vm} is free: waited ${formatDuration(waitedSeconds)} for it` });
      }
      return { taken: true, waitedSeconds };
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      const holder = (await store.listVmLocks()).find((lock) => lock.vm === vm);
      // Let go meanwhile: try again at once.
      if (holder === undefined) continue;
      // The same plan's run (a second start of it), or a policy that does not wait: today's one line.
      if (holder.plan === plan || busy.action === 'fail') throw error;
      if (busy.action === 'skip')
        return { taken: false, reason: `VM busy (run ${holder.runId} of plan ${holder.plan})` };
      const waited = Date.now() - started;
      if (waited >= busy.waitMs) {
        await store.recordVmWait(runId, waited / 1000);
        throw new SendenseError(`waited ${formatDuration(waited / 1000)} for VM ${vm} (busy.wait): ${error.message}`, {
          cause: error,
          refusedStart: true,
        });
      }
      if (!waiting) {
        waiting = true;
        reporter.emit({
          type: 'info',
          message: `VM ${vm} is busy: run ${holder.runId} of plan ${holder.plan} holds it; waiting up to ${formatDuration(busy.waitMs / 1000)} (busy.wait), holding nothing`,
        });
      }
      await pause(Math.min(POLL_MS, busy.waitMs - waited), signal);
    }
  }
}

// One poll interval; a cancel ends it at once.
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
