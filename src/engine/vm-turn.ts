// The engine is the one owner of a run's VM lock (docs/how-it-works.md#busy-vms). A run's turn at
// its VM is taken before anything else, so a run that finds another plan's run holding the VM
// waits holding nothing (no port, process or disk slot), skips, or fails at once, as the plan's
// `busy` says; it polls the VM lock, which every sendense-run sharing the state database takes.
// A step holds a VM (the run's own again, or each VM a copy sends) through holdVm; whoever takes
// the lock pushes its release on a stack the moment it has it.

import { SendenseError, isSendenseError } from '../errors.js';
import { formatDuration } from '../format/duration.js';
import type { RunContext } from './run-context.js';
import type { RunReporter } from './run-events.js';
import type { UndoStack } from './undo-stack.js';
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
  /** The run's stack of what it took: the lock's release goes on it once the turn is the run's. */
  readonly taken: UndoStack;
}

/** The VM's lock is the run's (after waitedSeconds), or the run is to be recorded skipped for `reason`. */
export type VmTurn =
  { readonly taken: true; readonly waitedSeconds: number } | { readonly taken: false; readonly reason: string };

const POLL_MS = 1000;

export async function takeVmTurn(request: VmTurnRequest): Promise<VmTurn> {
  const { store, vm, plan, runId, busy, reporter, signal, taken } = request;
  const started = Date.now();
  let waiting = false;
  for (;;) {
    signal.throwIfAborted();
    try {
      await store.lockVm(vm, runId, plan);
      // The lock taken for the run's turn, when no step's cleanup gave it back (a failure before the steps).
      taken.push({
        what: `unlock VM ${vm}`,
        when: 'always',
        step: 'admit',
        run: () => unlockQuietly(store, vm, runId),
      });
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

/** A VM a step holds: given back by release, or by the run's cleanup if the step ends first. */
export interface VmHold {
  release(): Promise<void>;
}

export interface HoldVmOptions {
  /** Kept across the run's taking again (docs/vmware.md#a-change-id-vsphere-rejects). */
  readonly keptWhenTakenAgain?: boolean;
}

// A step's hold on a VM, at once (no waiting): the run's own turn taken again, or another VM's
// lock; its release is on the run's undo stack from the moment it is held.
export async function holdVm(
  run: Pick<RunContext, 'store' | 'runId' | 'plan' | 'undo'>,
  vm: string,
  step: string,
  options: HoldVmOptions = {},
): Promise<VmHold> {
  const { store, runId } = run;
  await store.lockVm(vm, runId, run.plan.name);
  run.undo.push({
    what: `unlock VM ${vm}`,
    when: 'always',
    step,
    run: () => store.unlockVm(vm, runId),
    ...(options.keptWhenTakenAgain === true ? { keptWhenTakenAgain: true } : {}),
  });
  return { release: () => store.unlockVm(vm, runId) };
}

// A command's own run (forget, prune, failover, failback, retire) holds its VM at once through the
// engine too: the release is given back right after the run's end is recorded.
export async function holdVmForCommand(
  store: Store,
  run: { readonly id: string; releaseAtEnd(release: () => Promise<unknown>): void },
  vm: string,
  plan: string,
): Promise<void> {
  await store.lockVm(vm, run.id, plan);
  run.releaseAtEnd(() => store.unlockVm(vm, run.id));
}

// Out of reach (a lost database): doctor, the next run or another hub takes a dead run's lock back.
function unlockQuietly(store: Store, vm: string, runId: string): Promise<void> {
  return store.unlockVm(vm, runId).catch(() => undefined);
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
