// A copy run (docs/copies.md): the host the copy is on, the copy there, and what each VM's turn sent.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { CopyTarget } from '../../copy/copy-target.js';
import type { S3CopyTarget } from '../../copy/s3/s3-copy-target.js';
import type { VmCopied } from '../../copy/copy-vm.js';
import type { NodeHost } from '../../node/node.js';
import type { CopyPlan } from '../../plan/types.js';

/** What open-copy reached: the copy, and its host (an SSH link of its own) for an ssh copy. */
export interface CopyState {
  readonly target: CopyTarget;
  /** ssh: the copy's host, where its merges run; s3: none. */
  readonly node?: NodeHost;
  /** ssh: the copy's path there. */
  readonly root?: string;
  /** s3: the target again, with what only a bucket does (its merges are worked out on the hub). */
  readonly bucket?: S3CopyTarget;
  /** s3: the client, closed with the run. */
  readonly close?: () => void;
}

export interface CopyRun extends RunContext<CopyPlan>, Resolved<CopyState> {
  /** The copy for messages, "sendense@offsite1:22:/backup/offsite" or "s3://offsite/pgtest1 at https://…" (a dry run contacts nothing). */
  readonly description: string;
  /** What send-points did, one VM after the other. */
  readonly copied: VmCopied[];
}

// Points, files and bytes of every VM together.
export function copiedTotals(copied: readonly VmCopied[]): Omit<VmCopied, 'vm' | 'notSent'> & { readonly notSent: number } {
  const sum = (pick: (vm: VmCopied) => number) => copied.reduce((total, vm) => total + pick(vm), 0);
  return {
    pointsSent: sum((vm) => vm.pointsSent),
    pointsThere: sum((vm) => vm.pointsThere),
    filesSent: sum((vm) => vm.filesSent),
    filesKept: sum((vm) => vm.filesKept),
    bytes: sum((vm) => vm.bytes),
    notSent: sum((vm) => vm.notSent.length),
  };
}
