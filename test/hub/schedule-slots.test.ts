// `schedule` with many plans due at the same second under hub limits: every plan runs exactly
// once, and never more disks are in transfer at once than maxParallelDisks.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { qemuImg, qemuIo } from '../support/images.js';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { killScheduler, startScheduler, type SchedulerProcess } from '../schedule/scheduler-process.js';
import { makeSandbox, planDoc, writePlanFile, type Sandbox } from '../schedule/test-plans.js';
import { mostDisksAtOnce } from './disks-at-once.js';

const PLANS = 24;
const LIMIT = 4;
let box: Sandbox | undefined;
let scheduler: SchedulerProcess | undefined;

afterEach(async () => {
  await killScheduler(scheduler);
  box?.remove();
});

describe('schedule under hub limits', () => {
  it(`${PLANS} plans due at the same second: each runs once, at most ${LIMIT} disks at once`, async () => {
    box = makeSandbox('hub-schedule');
    const plans = path.join(box.dir, 'plans');
    mkdirSync(plans);
    const sources = Array.from({ length: PLANS }, (_, i) => {
      const source = path.join(box!.dir, `source-${i}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', source, '16M');
      qemuIo(source, `write -P ${0x20 + i} 0 2M`);
      return source;
    });
    const hub = path.join(box.dir, 'hub.yaml');
    writeFileSync(hub, `maxParallelDisks: ${LIMIT}\nmemory: 1GiB\n`);
    // The plans are made due a few seconds after the scheduler starts. On a loaded machine its
    // start can take longer than that; then every plan's next fire is tomorrow, and the test
    // starts again with more lead (the outcome below is not about how soon a hub starts).
    for (const lead of [8_000, 20_000, 45_000]) {
      const due = new Date(Math.ceil((Date.now() + lead) / 1000) * 1000);
      const cron = `${due.getUTCSeconds()} ${due.getUTCMinutes()} ${due.getUTCHours()} * * *`;
      sources.forEach((source, i) => {
        const doc = planDoc(box!, `p${String(i).padStart(2, '0')}`, {
          kind: 'backup',
          schedule: cron,
          timezone: 'UTC',
        });
        writePlanFile(path.join(plans, `p${i}.yaml`), {
          ...doc,
          vm: { name: `vm-${i}`, source: { type: 'qemu', disks: [{ key: 2000, path: source }] } },
        });
      });
      scheduler = startScheduler([plans, '--db', box.db, '--hub-config', hub]);
      const scheduled = () => scheduler!.lines.filter((line) => line.event === 'scheduled');
      await scheduler.waitFor(() => scheduled().length === PLANS);
      if (scheduled().every((line) => line.next === due.toISOString())) break;
      scheduler.child.kill('SIGTERM');
      await scheduler.exited;
      scheduler = undefined;
    }
    if (scheduler === undefined) throw new Error('the scheduler never started before its plans were due');
    const ended = () => scheduler!.lines.filter((line) => line.type === 'run-end');
    await scheduler.waitFor(() => ended().length === PLANS, 150_000);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);

    const runsOf = new Map<string, number>();
    for (const line of ended()) runsOf.set(line.plan!, (runsOf.get(line.plan!) ?? 0) + 1);
    expect(runsOf.size).toBe(PLANS);
    expect([...runsOf.values()].every((count) => count === 1)).toBe(true);
    expect(
      ended().every((line) => line.status === 'succeeded'),
      JSON.stringify(ended().filter((l) => l.status !== 'succeeded')),
    ).toBe(true);
    expect(scheduler.lines.filter((line) => line.type === 'queued').length).toBeGreaterThan(0);
    expect(mostDisksAtOnce(scheduler.lines)).toBeLessThanOrEqual(LIMIT);
    // The limit was used, not just kept: runs held every slot at once (a run queues only then).
    // Whether their 2 MiB copies overlap in time is the machine's load, not the hub's rule.
    const held = scheduler.lines
      .filter((line) => line.type === 'slots')
      .map((line) => Number((line as { held?: unknown }).held));
    expect(Math.max(...held)).toBe(LIMIT);
    expect(tableRows(box.db, 'disk_slots')).toEqual([]);
    expect(leasedPorts(box.db)).toEqual([]);
    expect(recordedProcesses(box.db)).toEqual([]);
  }, 200_000);
});
