// What `failback` prints (docs/replication.md#failback, docs/json-events.md): a summary on stdout
// (the original started, what was copied, the syncs resumed), notes on stderr; with --json one
// `failed-back` object.

import type { Output } from '../engine/output.js';
import { formatBytes } from '../format/bytes.js';
import type { ReplicatePlan } from '../plan/types.js';
import type { FailedBack } from './fail-back.js';

export function printFailedBack(out: Output, plan: ReplicatePlan, done: FailedBack): void {
  if (out.json) {
    out.stdout.write(
      `${JSON.stringify({
        type: 'failed-back',
        plan: plan.name,
        vm: plan.vm.name,
        domain: done.domain,
        node: done.node,
        standby: done.standby,
        standbyNode: done.standbyNode,
        pointId: done.pointId,
        copy: done.copy,
        whyFull: done.whyFull ?? null,
        bytesWritten: done.bytesWritten,
      })}\n`,
    );
    return;
  }
  const copied =
    done.copy === 'none'
      ? 'its disks were made equal to the standby before (a failback that was stopped)'
      : `${formatBytes(done.bytesWritten)} of the standby's ${done.copy === 'incremental' ? 'changes since the failover' : 'disks (every block)'} copied onto its disks`;
  out.stdout.write(
    `failed back ${plan.vm.name}: ${done.standby} on ${done.standbyNode} shut off, ${copied}; domain ${done.domain} ${done.alreadyRunning ? 'runs' : 'started'} on ${done.node}\n`,
  );
  out.stdout.write(`the syncs of plan ${plan.name} go on from point ${done.pointId} (docs/replication.md#failback)\n`);
}
