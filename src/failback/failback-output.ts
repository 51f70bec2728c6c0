// What `failback` prints (docs/replication.md#failback, docs/json-events.md): a summary on stdout
// (the original started, what was copied, the syncs resumed), notes on stderr; with --json one
// `failed-back` object.

import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import type { Output } from '../engine/output.js';
import { formatBytes } from '../format/bytes.js';
import type { ReplicatePlan } from '../plan/types.js';
import type { FailedBack } from './fail-back.js';

type FailbackLine = { readonly type: 'failed-back'; readonly plan: string; readonly vm: string } & Pick<
  FailedBack,
  'domain' | 'node' | 'standby' | 'standbyNode' | 'pointId' | 'copy' | 'bytesWritten'
> & { readonly whyFull: string | null };

/** failback's section of docs/json-events.md. */
export const FAILBACK_JSON: JsonOutput = {
  intro: 'One object ([replication.md](replication.md#failback)).',
  lines: typedLines<FailbackLine>({
    'failed-back': {
      when: 'the original runs',
      fields: {
        plan: '',
        vm: '',
        domain: 'the original, started',
        node: "the original's node",
        standby: 'the failed-over domain, shut off',
        standbyNode: "the standby's node",
        pointId: "the failover's point, which the syncs go on from",
        copy: '`incremental` (only what either side wrote since that point), `full` (every block, `whyFull` says why) or `none` (a failback stopped earlier had copied it all)',
        whyFull: 'null unless `full`',
        bytesWritten: "what the copy wrote onto the original's disks",
      },
    },
  }),
};

export function printFailedBack(out: Output, plan: ReplicatePlan, done: FailedBack): void {
  if (out.json) {
    printJson<FailbackLine>(out, {
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
    });
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
