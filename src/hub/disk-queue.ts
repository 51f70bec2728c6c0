// A run's place in the hub's queue for disk slots: it joins in fire order, waits (polling the
// state database, which every sendense-run on the hub shares) until it is first and slots are
// free, and gives them back when the run ends. A cancel while waiting leaves the queue at once.

import { EventEmitter } from 'node:events';
import type { RunReporter } from '../engine/run-events.js';
import type { Store } from '../store/index.js';
import { slotsWanted } from './disk-budget.js';
import type { HubConfig } from './hub-config.js';

/** What a run got from the queue: how many slots, after how long. */
export interface DiskSlots {
  readonly hub: HubConfig;
  readonly granted: number;
  readonly queuedSeconds: number;
}

export interface SlotWait {
  readonly store: Store;
  readonly hub: HubConfig;
  readonly runId: string;
  readonly plan: string;
  /** Disks the run will transfer (its slots wanted follow from it). */
  readonly disks: number;
  /** Its place in line: the fire time; default now. */
  readonly queuedAt?: Date;
  readonly reporter: RunReporter;
  readonly signal: AbortSignal;
}

// Runs of this process wake at once when another of its runs gives slots back.
const released = new EventEmitter().setMaxListeners(0);
const POLL_MS = 400;

export async function takeDiskSlots(wait: SlotWait): Promise<DiskSlots> {
  const { store, hub, runId, reporter, signal } = wait;
  const started = Date.now();
  const request = {
    runId,
    plan: wait.plan,
    wanted: slotsWanted(hub, wait.disks),
    limit: hub.maxParallelDisks,
    queuedAt: (wait.queuedAt ?? new Date()).toISOString(),
  };
  let said = -1;
  try {
    for (;;) {
      signal.throwIfAborted();
      const tried = await store.tryTakeSlots(request);
      if (tried.granted > 0) {
        const queuedSeconds = (Date.now() - started) / 1000;
        if (said >= 0) await store.recordQueued(runId, queuedSeconds);
        reporter.emit({
          type: 'slots',
          runId,
          granted: tried.granted,
          wanted: request.wanted,
          disks: wait.disks,
          held: tried.held,
          limit: hub.maxParallelDisks,
          queuedSeconds,
        });
        return Object.freeze({ hub, granted: tried.granted, queuedSeconds });
      }
      if (said !== tried.ahead) {
        said = tried.ahead;
        reporter.emit({
          type: 'queued',
          runId,
          ahead: tried.ahead,
          held: tried.held,
          limit: hub.maxParallelDisks,
          wanted: request.wanted,
          queuedAt: request.queuedAt,
        });
      }
      await nextTry(signal);
    }
  } catch (error) {
    await store.releaseSlots(runId);
    throw error;
  }
}

export async function giveBackDiskSlots(store: Store, runId: string): Promise<void> {
  await store.releaseSlots(runId);
  released.emit('released');
}

// The next poll, sooner when a run of this process gave slots back; a cancel ends the wait.
function nextTry(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      released.off('released', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, POLL_MS + Math.floor(Math.random() * POLL_MS));
    released.once('released', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
