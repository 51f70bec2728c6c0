// backup and incremental plans (docs/plan-reference.md): a VM's source and the repository its
// points go to, with the chain and retention settings; incremental decides per run.

import { buildRepository, buildSource } from '../../plan/build-parts.js';
import type { RawBackupPlan } from '../../plan/plan-shape.generated.js';
import type { BackupPlan } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';
import { checkBackupRules } from './backup-rules.js';
import { ANOMALY_DEFAULTS } from '../../anomaly/suspect-point.js';

export const backupDefinition: KindDefinition<BackupPlan> = {
  names: ['backup', 'incremental'],
  checks: [checkBackupRules],
  build(data, common) {
    const raw = data as RawBackupPlan;
    return {
      ...common,
      repository: buildRepository(raw.repository),
      kind: raw.kind,
      vm: { name: raw.vm.name, source: buildSource(raw.vm.source, raw.vm.name) },
      incremental: {
        onMissingChain: raw.incremental?.onMissingChain ?? 'full',
        // Points merged away by keep-* rules: no need to start a new chain ever.
        maxChainLength:
          raw.incremental?.maxChainLength ??
          (raw.retention !== undefined && raw.retention.keepChains === undefined ? Infinity : 30),
      },
      retention: raw.retention,
      anomaly: { ...ANOMALY_DEFAULTS, ...raw.anomaly },
    };
  },
  runs: { backup: () => import('./index.js').then((module) => module.backupKind) },
  readsSource: true,
  pointsOn: 'repository',
  locksVm: true,
  capabilities: { chains: (plan) => plan },
};
