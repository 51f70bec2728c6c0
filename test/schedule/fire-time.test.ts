// What the scheduler decides at a fire time: `${VAR}` resolved from the environment then (not at
// load), and catchUp: latest's notion of a missed run.

import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadPlanText } from '../../src/plan/load.js';
import type { Run } from '../../src/store/index.js';
import type { SchedulePlan } from '../../src/schedule/load-schedule-plans.js';
import { missedRun } from '../../src/schedule/missed-run.js';
import { planAtFireTime } from '../../src/schedule/plan-at-fire-time.js';

const doc = {
  version: 1,
  kind: 'backup',
  name: 'nightly',
  schedule: '0 2 * * *',
  timezone: 'Europe/London',
  vm: { name: 'vm1', source: { type: 'qemu', disks: [{ key: 2000, path: '/var/lib/vms/${DISK_NAME}.qcow2' }] } },
  repository: { path: '/backup' },
};

function scheduled(): SchedulePlan {
  const text = stringify(doc);
  const loaded = loadPlanText(text, '/etc/sendense/nightly.yaml', { resolveEnv: false, env: {} });
  return { plan: loaded.plan as SchedulePlan['plan'], text };
}

function lastRun(startedAt: string): Run {
  return {
    id: 'r',
    plan: 'nightly',
    kind: 'backup',
    trigger: 'schedule',
    status: 'succeeded',
    startedAt,
    endedAt: startedAt,
    error: null,
    pid: 1,
    hostname: 'h',
    planFile: null,
    backupId: null,
    queuedSeconds: null,
    vmWaitSeconds: null,
    hub: 'h',
    fire: null,
    note: null,
    bytes: null,
    taken: null,
    actor: null,
    acknowledgedBy: null,
    acknowledgedAt: null,
  };
}

describe('planAtFireTime', () => {
  it('resolves ${VAR} from the environment at fire time', () => {
    const plan = planAtFireTime(scheduled(), { DISK_NAME: 'pgtest1-disk0' });
    expect(
      (plan.kind === 'backup' || plan.kind === 'incremental') &&
        plan.vm.source.type === 'qemu' &&
        plan.vm.source.disks[0].path,
    ).toBe('/var/lib/vms/pgtest1-disk0.qcow2');
  });

  it('a variable missing at fire time is an error naming it and where it is used', () => {
    expect(() => planAtFireTime(scheduled(), {})).toThrow(/environment variable DISK_NAME is not set/);
    try {
      planAtFireTime(scheduled(), {});
    } catch (error) {
      expect((error as { describe(): string }).describe()).toMatch(/^\/etc\/sendense\/nightly\.yaml:\d+:\d+: /);
    }
  });
});

describe('missedRun', () => {
  const plan = scheduled().plan;
  const now = new Date('2026-06-10T12:00:00Z');
  it('the last scheduled time (02:00 London = 01:00 UTC in summer) with no run since is missed', () => {
    expect(missedRun(plan, lastRun('2026-06-09T01:00:05Z'), now)?.toISOString()).toBe('2026-06-10T01:00:00.000Z');
    expect(missedRun(plan, undefined, now)?.toISOString()).toBe('2026-06-10T01:00:00.000Z');
  });
  it('a run at or after the last scheduled time means nothing was missed', () => {
    expect(missedRun(plan, lastRun('2026-06-10T01:00:00.500Z'), now)).toBeUndefined();
  });
});
