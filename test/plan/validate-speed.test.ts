// validate is fast enough for CI over many plans: 200 plans well under a second.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { validatePlanFiles } from '../../src/plan/validate-plan-files.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sendense-plans-'));
  const template = await readFile('plans/pgtest1-nightly.yaml', 'utf8');
  for (let i = 0; i < 200; i++) {
    await writeFile(path.join(dir, `plan-${String(i).padStart(3, '0')}.yaml`), template.replace('name: pgtest1-nightly', `name: plan-${i}`));
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// CPU time, not wall time: the test machine is shared, and waiting for a core is not our work.
it('validates 200 plans in well under a second of work', async () => {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const { results } = await validatePlanFiles([dir]);
  const used = process.cpuUsage(cpu);
  const work = (used.user + used.system) / 1000;
  console.log(`validate: 200 plans in ${work.toFixed(0)} ms CPU, ${(performance.now() - started).toFixed(0)} ms wall (schema compile included)`);
  expect(results).toHaveLength(200);
  expect(results.every((result) => result.errors.length === 0)).toBe(true);
  expect(work).toBeLessThan(1000);
});
