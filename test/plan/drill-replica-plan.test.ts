// A drill of a replica's point (docs/drills.md#a-replicas-point): drill.replica names the replicate
// plan instead of a repository; each mistake is one line at FILE:LINE:COL, exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { DrillPlan } from '../../src/plan/types.js';
import { validateRefused as validate } from './run-validate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'drill-replica-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Lines 1-4 are the header, then `drill` (line 5), then `extra`.
function planWith(drill: string, extra = ''): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(
    file,
    `version: 1\nkind: drill\nname: standby-drill\nvm: { name: web1 }\ndrill: { ${drill}checks: [{ boot: {} }] }\n${extra}`,
  );
  return file;
}

describe('a drill plan of a replica', () => {
  it('names the replicate plan and has no repository', async () => {
    const plan = (await loadPlanForRun(planWith('replica: web1-standby, '))) as DrillPlan;
    expect(plan.drill.replica).toBe('web1-standby');
    expect(plan.drill.point).toEqual({ type: 'latest' });
    expect('repository' in plan).toBe(false);
  });

  it('is refused with a repository too, with a time as its point, or with neither', async () => {
    expect(await validate(planWith('replica: web1-standby, ', 'repository: { path: /srv/backups }\n'))).toMatch(
      /:5:19: drill\.replica: a drill of replicate plan web1-standby's replica reads no repository/,
    );
    expect(await validate(planWith("replica: web1-standby, point: '2026-11-01T00:00:00Z', "))).toMatch(
      /:5:40: drill\.point: with drill\.replica, must be new, latest or a replica point's id/,
    );
    expect(await validate(planWith(''))).toMatch(
      /repository: give the repository whose point is drilled, or drill\.replica/,
    );
  });
});
