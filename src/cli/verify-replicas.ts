// `sendense-run replicas --verify PLAN.yaml` (docs/replication.md#digests): the plan's complete points,
// oldest first, each disk's own layer read on the replica node and compared with its digests; one
// line per layer, then a summary. A layer a running VM writes (a failed-over domain's) is not judged.

import { formatBytes } from '../format/bytes.js';
import { plural } from '../format/plural.js';
import { usageError } from '../errors.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import { openReplicaNode } from '../replica/replica-node.js';
import { completePoints } from '../replica/replica-points.js';
import { failedOverLayers, verifyCurrentPoints, type LayerCheck } from '../replica/verify-points.js';
import type { CliContext } from './context.js';
import { printJson } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

/** `replicas --verify --json`: a layer checked. */
export interface LayerLine {
  readonly point: string;
  readonly disk: number;
  readonly layer: string;
  readonly state: LayerCheck['state'];
  readonly findings: readonly { readonly offset: number | null; readonly message: string }[];
  readonly bytesRead: number;
  readonly note?: string;
}

/** `replicas --verify --json` of a plan without a complete point. */
export interface NoPointLine {
  readonly plan: string;
  readonly checked: 0;
}

export async function verifyReplicas(cli: CliContext, file: string): Promise<number> {
  const loaded = await loadPlanForRun(file, process.env);
  const plan = planCapability(loaded, 'replica');
  if (plan === undefined)
    throw usageError(`replicas --verify takes a replicate plan: ${file} is a ${loaded.kind} plan`);
  return withExistingStore(cli, async (store) => {
    const points = await completePoints(store, plan.name);
    if (points.length === 0) {
      if (cli.json) printJson<NoPointLine>(cli, { plan: plan.name, checked: 0 });
      else cli.stdout.write(`plan ${plan.name} has no complete point to check\n`);
      return 0;
    }
    const skip = await failedOverLayers(store, plan.name, points);
    const node = await openReplicaNode(plan);
    try {
      if (!cli.json)
        cli.stdout.write(`plan ${plan.name}: checking ${plural(points.length, 'point')} on ${node.description}\n`);
      const checks = await verifyCurrentPoints(store, plan.name, node, (current) => current, { skip });
      for (const check of checks) {
        if (cli.json) printJson<LayerLine>(cli, checkJson(check));
        else cli.stdout.write(`${checkLine(check)}\n`);
      }
      const damaged = checks.filter((check) => check.state === 'damaged');
      const without = checks.filter((check) => check.state === 'no-digests');
      if (!cli.json) {
        const read = formatBytes(checks.reduce((sum, check) => sum + check.bytesRead, 0));
        if (damaged.length > 0) {
          const which = [...new Set(damaged.map((check) => check.pointId))].join(', ');
          cli.stdout.write(
            `DAMAGED: ${plural(damaged.length, 'layer')} of point(s) ${which} differ from the digests their sync recorded (${read} read)\n`,
          );
        } else {
          const note =
            without.length === 0
              ? ''
              : `; ${plural(without.length, 'layer')} without digests (made before this version)`;
          cli.stdout.write(`all good: every layer with digests matches them (${read} read)${note}\n`);
        }
      }
      return damaged.length > 0 ? 1 : 0;
    } finally {
      await node.close();
    }
  });
}

function checkLine(check: LayerCheck): string {
  const what = `point ${check.pointId} disk ${check.diskKey}`;
  if (check.state === 'good') return `  ${what}: good (${formatBytes(check.bytesRead)} read)`;
  if (check.state === 'no-digests') return `  ${what}: no digests (made before this version)`;
  if (check.state === 'skipped') return `  ${what}: not checked (${check.note})`;
  return `  ${what}: DAMAGED: ${check.findings.map((finding) => finding.message).join('; ')}`;
}

function checkJson(check: LayerCheck): LayerLine {
  return {
    point: check.pointId,
    disk: check.diskKey,
    layer: check.layer,
    state: check.state,
    findings: check.findings.map((finding) => ({ offset: finding.offset ?? null, message: finding.message })),
    bytesRead: check.bytesRead,
    ...(check.note === undefined ? {} : { note: check.note }),
  };
}
