// The transfer plan (docs/how-it-works.md#the-data-path): what one node transfer of a turn of disks
// runs, built here and nowhere else from the source's reads, each disk's target, what the targets
// need (whole aligned blocks, holes written as zeroes, digests), the turn's tuning and the rate at
// its start. runTransfer runs the program as it is given.

import type { DiskKey } from '../plan/types.js';
import { servedUrl, type ServedDisk } from '../steps/serving-run.js';
import type { TransferCopy, TransferRead, TransferRequest, TransferTarget } from '../wire/index.js';

type Env = Readonly<Record<string, string>>;

/**
 * How the transfer is invoked: this project's node transfer with its request (and secrets for its
 * environment: a vSphere session cookie), or another program with its own argv (the VMware client).
 */
export type TransferProgram =
  | { readonly kind: 'node-transfer'; readonly request: TransferRequest; readonly env?: Env }
  | { readonly kind: 'external-client'; readonly command: readonly string[]; readonly env?: Env };

/** How a source's disks are read: each disk's read by our node transfer, or another program's argv (the VMware client). */
export type TransferReads =
  | { readonly kind: 'node-transfer'; readonly reads: readonly TransferRead[]; readonly env?: Env }
  | { readonly kind: 'external-client'; readonly command: readonly string[]; readonly env?: Env };

/** What a transfer step asks of one turn of its disks. */
export interface TransferAsk {
  readonly jobId: string;
  readonly reads: TransferReads;
  /** Each disk's target (the hub's NBD export, an NBD target, a file) and what copies it when not the transfer over NBD. */
  readonly targets: ReadonlyMap<DiskKey, DiskTarget>;
  /** Whole blocks of this many bytes, each written once (a compressing target, docs/encryption.md#compression). */
  readonly align?: number;
  /** The source's holes written as zeroes too (a target that holds old data). */
  readonly zeroHoles?: boolean;
  /** false: no digests (a restore records nothing from its copy). */
  readonly digests?: boolean;
}

/** Where a disk is written, and whether qemu-img copies it there (decided by create-qcow2). */
export interface DiskTarget {
  readonly target: TransferTarget;
  readonly copy?: TransferCopy;
}

/** What the run decides for one turn: its disks' share of the hub slots, and the rate it starts at. */
export interface TurnSettings {
  readonly tuning?: { readonly inFlight: number; readonly connections: number };
  /** Bytes per second; undefined: not limited. */
  readonly rate?: number;
}

// The VMware client takes its own argv: nothing of the turn reaches it (it takes the whole VM and no rate).
export function transferPlan(ask: TransferAsk, turn: TurnSettings = {}): TransferProgram {
  const { reads } = ask;
  if (reads.kind === 'external-client') return reads;
  const disks = reads.reads.map((read) => ({ ...read, ...targetOf(ask, read.key) }));
  const { tuning, rate } = turn;
  const request: TransferRequest = {
    jobId: ask.jobId,
    disks,
    ...(tuning && { parallelDisks: disks.length, inFlight: tuning.inFlight, connections: tuning.connections }),
    ...(ask.zeroHoles === true && { zeroHoles: true }),
    ...(ask.digests === false && { digests: false }),
    ...(ask.align !== undefined && { align: ask.align }),
    ...(rate !== undefined && { rate }),
  };
  return { kind: 'node-transfer', request, ...(reads.env && { env: reads.env }) };
}

/**
 * Where the transfer writes a disk the hub serves: straight into its new file, copied by qemu-img,
 * when create-qcow2 decided so (docs/how-it-works.md#a-local-full-backup), else the hub's export.
 */
export function servedTarget(
  disk: Pick<ServedDisk, 'exportName' | 'socket' | 'port' | 'nodePort' | 'nodeSocket' | 'file' | 'copiedHere'>,
  node: { readonly isLocal: boolean },
): DiskTarget {
  if (disk.copiedHere === true) return { target: { kind: 'file', path: disk.file, format: 'qcow2' }, copy: 'qemu-img' };
  return { target: { kind: 'nbd', url: servedUrl(disk, node) } };
}

function targetOf(ask: TransferAsk, key: DiskKey): DiskTarget {
  const target = ask.targets.get(key);
  if (target === undefined) throw new Error(`the transfer plan has no target for disk ${key}`);
  return target;
}
