// A copy run (docs/copies.md): the host the copy is on, the copy there, and what each VM's turn sent.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { OpenedCopyTarget } from '../../copy/targets/index.js';
import type { VmCopied } from '../../copy/copy-vm.js';
import type { CopyPlan } from '../../plan/types.js';

/** What open-copy reached: the copy's target, closed with the run (its SSH link, its client). */
export type CopyState = OpenedCopyTarget;

export interface CopyRun extends RunContext<CopyPlan>, Resolved<CopyState> {
  /** The copy for messages, "sendense@offsite1:22:/backup/offsite" or "s3://offsite/pgtest1 at https://…" (a dry run contacts nothing). */
  readonly description: string;
  /** What send-points did, one VM after the other. */
  readonly copied: VmCopied[];
}

// Points, files and bytes of every VM together.
export function copiedTotals(
  copied: readonly VmCopied[],
): Omit<VmCopied, 'vm' | 'notSent'> & { readonly notSent: number } {
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
