// drill plans (docs/drills.md): a point started isolated on overlays over the served chain (or a
// replica's point, over its layers on the replica node), checked, recorded, then removed. A drill
// reads the repository or the replica only, and never holds the VM's turn: backups and syncs of the
// VM go on while it is drilled.

import { buildRepository, DEFAULT_LIBVIRT_SCRATCH, DEFAULT_LIBVIRT_URI } from '../../plan/build-parts.js';
import type { RawDrillCheck, RawDrillPlan } from '../../plan/plan-shape.generated.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import type { DrillCheck, DrillPlan, RestorePoint } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';
import { checkDrillNetworkRules } from './drill-network-rules.js';
import { checkDrillRules } from './drill-rules.js';

/** Seconds each check may take unless the plan says. */
export const DRILL_TIMEOUTS = {
  boot: 120,
  heartbeat: 180,
  screenshot: 30,
  tcp: 60,
  command: 60,
  files: 120,
  fsck: 600,
} as const;

export const drillDefinition: KindDefinition<DrillPlan> = {
  names: ['drill'],
  checks: [checkDrillRules, checkDrillNetworkRules],
  build(data, common) {
    const raw = data as RawDrillPlan;
    const { drill } = raw;
    const point = drill.point ?? 'latest';
    return {
      ...common,
      // A drill of a replica's point (drill.replica) reads no repository.
      ...(raw.repository === undefined ? {} : { repository: buildRepository(raw.repository) }),
      kind: 'drill',
      vm: { name: raw.vm.name },
      drill: {
        point: point === 'new' ? { type: 'new' } : (parseRestorePoint(point) as RestorePoint),
        ...(drill.replica === undefined ? {} : { replica: drill.replica }),
        uri: drill.uri ?? DEFAULT_LIBVIRT_URI,
        scratch: drill.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
        isolation: {
          network: drill.isolation?.network ?? 'none',
          ...(drill.isolation?.probe === undefined ? {} : { probe: drill.isolation.probe }),
        },
        checks: drill.checks.map(buildCheck),
      },
    };
  },
  runs: { drill: () => import('./index.js').then((module) => module.drillKind) },
  readsSource: false,
  pointsOn: 'repository',
  historyTaken: 'drill',
};

function buildCheck(raw: RawDrillCheck): DrillCheck {
  if (raw.boot) return { type: 'boot', timeout: raw.boot.timeout ?? DRILL_TIMEOUTS.boot };
  if (raw.heartbeat)
    return {
      type: 'heartbeat',
      timeout: raw.heartbeat.timeout ?? DRILL_TIMEOUTS.heartbeat,
      console: raw.heartbeat.console,
      agent: raw.heartbeat.agent ?? false,
    };
  if (raw.screenshot) return { type: 'screenshot', timeout: raw.screenshot.timeout ?? DRILL_TIMEOUTS.screenshot };
  if (raw.tcp)
    return {
      type: 'tcp',
      timeout: raw.tcp.timeout ?? DRILL_TIMEOUTS.tcp,
      port: raw.tcp.port,
      address: raw.tcp.address,
    };
  if (raw.command)
    return {
      type: 'command',
      timeout: raw.command.timeout ?? DRILL_TIMEOUTS.command,
      run: raw.command.run,
      expect: raw.command.expect,
      exitCode: raw.command.exitCode ?? 0,
    };
  if (raw.files) return { type: 'files', timeout: raw.files.timeout ?? DRILL_TIMEOUTS.files, exists: raw.files.exists };
  return { type: 'fsck', timeout: raw.fsck?.timeout ?? DRILL_TIMEOUTS.fsck };
}
