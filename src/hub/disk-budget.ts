// How the hub's memory budget becomes disk slots and per-disk transfer settings. Calibrated on
// the peak resident memory of whole runs (bench/hub-memory.js, every process of the run sampled):
// sendense-run and the node transfer with no disk going take ~160 MiB; a disk in transfer takes
// its two qemu-nbd (the hub's and the source's, 21-24 MiB each, mostly fixed: code, thread pools,
// freed request buffers kept up to their trim threshold, qemu/qemu-nbd-env.ts) and ~3.2 MiB per
// request in flight (the node transfer's 2 MiB buffer and what qemu-nbd keeps beside it).
// Measured at 100 disks: 49.6 MiB per disk with 2 in flight, 62.4 MiB with 6.

import type { HubConfig } from './hub-config.js';

const MiB = 1024 ** 2;
/** sendense-run and the node transfer process with no disk going (resident, measured ~159 MiB). */
export const HUB_BASE_MEMORY = 184 * MiB;
/** One qemu-nbd of a disk in transfer, besides its requests in flight (resident, measured 21-24.4 MiB). */
export const QEMU_NBD_MEMORY = 24 * MiB;
export const REQUEST_SIZE = 2 * MiB;
/** What each request in flight adds to a disk in transfer (measured ~3.2 MiB). */
const PER_REQUEST_MEMORY = 2 * REQUEST_SIZE;
/** Today's full speed: 16 requests of 2 MiB in flight over 4 connections per disk. */
export const FULL_IN_FLIGHT = 16;
export const FULL_CONNECTIONS = 4;
const MIN_IN_FLIGHT = 2;

export interface DiskTuning {
  /** Disks of this run transferred at once. */
  readonly parallelDisks: number;
  readonly inFlight: number;
  readonly connections: number;
}

/** Memory one disk in transfer needs with `inFlight` requests of REQUEST_SIZE. */
export function diskMemory(inFlight: number): number {
  return 2 * QEMU_NBD_MEMORY + inFlight * PER_REQUEST_MEMORY;
}

/** The memory one slot stands for: the budget left after the base, shared by maxParallelDisks. */
export function slotMemory(hub: Pick<HubConfig, 'memory' | 'maxParallelDisks'>): number {
  return Math.max(0, hub.memory - HUB_BASE_MEMORY) / hub.maxParallelDisks;
}

/** Slots a run of `disks` disks asks for: one per disk, and enough for one disk at full speed. */
export function slotsWanted(hub: Pick<HubConfig, 'memory' | 'maxParallelDisks'>, disks: number): number {
  const forFullSpeed = Math.ceil(diskMemory(FULL_IN_FLIGHT) / Math.max(1, slotMemory(hub)));
  return Math.max(1, Math.min(hub.maxParallelDisks, Math.max(disks, forFullSpeed)));
}

/** What a run that was granted `slots` does with its `disks` disks. */
export function tuneDisks(
  hub: Pick<HubConfig, 'memory' | 'maxParallelDisks'>,
  slots: number,
  disks: number,
): DiskTuning {
  // The run's share. Disks waiting for their turn cost nothing: their qemu-nbd starts with the
  // turn, and a finished disk's stops (start-qemu-nbd, transfer). A small budget takes fewer
  // disks at once than slots: each in transfer needs at least MIN_IN_FLIGHT buffers.
  const share = slots * slotMemory(hub);
  const parallelDisks = Math.max(1, Math.min(slots, disks, Math.floor(share / diskMemory(MIN_IN_FLIGHT))));
  const perDisk = share / parallelDisks;
  const fits = Math.floor((perDisk - 2 * QEMU_NBD_MEMORY) / PER_REQUEST_MEMORY);
  const inFlight = Math.max(MIN_IN_FLIGHT, Math.min(FULL_IN_FLIGHT, fits));
  const connections = inFlight >= 8 ? FULL_CONNECTIONS : inFlight >= 4 ? 2 : 1;
  return Object.freeze({ parallelDisks, inFlight, connections });
}
