// `schedule` on three hubs (three processes, three hub names) sharing one PostgreSQL and the same
// plan files (docs/how-it-works.md#scale): each fire of each plan runs exactly once or is recorded as
// skipped with its reason, never twice, on a hub that lists the plan's repository; a hub killed (kill -9) mid-run has its run failed and its
// disk slots freed by the others within the heartbeat bound, and later fires run on the others.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { descendantPids } from '../support/process-tree.js';
import { NotedProcesses } from '../support/processes.js';
import { queryRows as query } from '../support/postgres-server.js';
import { usePostgresServer } from '../support/store-dialects.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { killScheduler, startScheduler, type SchedulerProcess } from '../schedule/scheduler-process.js';
import { makeSandbox, planDoc, writePlanFile, type Sandbox } from '../schedule/test-plans.js';

const PLANS = 10;
// Heartbeat every second: a hub is dead after 6 s without one (short, but safe on a loaded 2-core CI box).
const BEAT_SECONDS = 1;
const DEAD_AFTER_MS = 6 * BEAT_SECONDS * 1000;
const HUBS = ['hub-1', 'hub-2', 'hub-3'];
// How long the plans fire (the issue asks 30 s; 20 s keeps the suite short): SENDENSE_MANY_HUBS_SECONDS.
const FIRING_MS = Number(process.env.SENDENSE_MANY_HUBS_SECONDS ?? 20) * 1000;

let box: Sandbox | undefined;
let schedulers: SchedulerProcess[] = [];
const orphans = new NotedProcesses();

afterEach(async () => {
  for (const scheduler of schedulers) await killScheduler(scheduler);
  // The killed hub's hook (sleep) outlives it: stopped by the PIDs noted before the kill.
  orphans.killAll();
  schedulers = [];
  box?.remove();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('schedule on three hubs sharing one PostgreSQL', () => {
  const postgres = usePostgresServer();

  it(`${PLANS} plans every second: each fire once, none twice; a killed hub's run failed and freed, later fires on the others`, async () => {
    box = makeSandbox('many-hubs');
    const db = await postgres.server.createDatabase('hubs');
    for (let i = 0; i < PLANS; i++) {
      writePlanFile(path.join(box.dir, `v${i}.yaml`), {
        version: 1,
        kind: 'verify',
        name: `v${i}`,
        schedule: '* * * * * *',
        repository: { path: box.repository },
        verify: { vm: `vm-${i}` },
      });
    }
    // Two plans in a second repository that only hub-1 and hub-2 list (hub-3 must never run them).
    const only12 = path.join(box.dir, 'repository-b');
    for (const name of ['w0', 'w1']) {
      writePlanFile(path.join(box.dir, `${name}.yaml`), {
        version: 1,
        kind: 'verify',
        name,
        schedule: '* * * * * *',
        repository: { path: only12 },
        verify: { vm: `vm-${name}` },
      });
    }
    // A run that stays in its before hook, holding a disk slot, until its hub is killed.
    writePlanFile(
      path.join(box.dir, 'slow.yaml'),
      planDoc(box, 'slow', { schedule: '* * * * * *', hooks: { before: [{ run: 'sleep 60' }] } }),
    );
    const env = { SENDENSE_HEARTBEAT_SECONDS: String(BEAT_SECONDS) };
    schedulers = HUBS.map((name) => {
      const config = path.join(box!.dir, `${name}.yaml`);
      const repositories = name === 'hub-3' ? [box!.repository] : [box!.repository, only12];
      writeFileSync(
        config,
        `name: ${name}\nrepositories: [${repositories.join(', ')}]\nmaxParallelDisks: 4\nmemory: 1GiB\n`,
      );
      return startScheduler([box!.dir, '--db', db, '--hub-config', config], env);
    });
    const started = Date.now();

    // The hub that runs `slow` is killed while the run waits in its hook, holding a disk slot.
    const slowStart = await Promise.any(
      schedulers.map((s) => s.waitFor((line) => line.type === 'run-start' && line.plan === 'slow', 60_000)),
    );
    const victim = schedulers.find((s) => s.lines.includes(slowStart))!;
    const victimHub = HUBS[schedulers.indexOf(victim)]!;
    const slowRun = slowStart.runId!;
    await victim.waitFor((line) => line.plan === 'slow' && line.type === 'step-start', 10_000).catch(() => undefined);
    await sleep(1000);
    expect(await query(db, 'select run_id from disk_slots where run_id = $1', [slowRun])).toHaveLength(1);
    for (const pid of descendantPids(victim.child.pid!)) orphans.add(pid);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();

    // A survivor marks the run failed and frees its slot (within the bound, plus a beat; generous on a busy machine).
    const survivors = schedulers.filter((s) => s !== victim);
    const reaped = await Promise.any(
      survivors.map((s) => s.waitFor((line) => line.event === 'reaped' && line.runId === slowRun, 60_000)),
    );
    expect(reaped.message).toMatch(new RegExp(`hub ${victimHub} .* stopped answering: no heartbeat`));
    const [slowRow] = await query<{ status: string; error: string; hub: string }>(
      db,
      'select status, error, hub from runs where id = $1',
      [slowRun],
    );
    expect(slowRow).toMatchObject({ status: 'failed', hub: victimHub });
    expect(await query(db, 'select 1 from disk_slots where run_id = $1', [slowRun])).toEqual([]);

    // Later fires run on the survivors: a new `slow` run starts on one of them.
    const laterSlow = await Promise.any(
      survivors.map((s) =>
        s.waitFor((line) => line.type === 'run-start' && line.plan === 'slow' && line.runId !== slowRun),
      ),
    );
    // Fires the victim had taken but not claimed expire after the bound and go to a survivor at
    // pg-boss's next maintenance (every bound seconds) plus a retry delay: wait that out too.
    const endAt = Math.max(Date.now(), started + FIRING_MS, killedAt + 3 * DEAD_AFTER_MS + 4000);
    await sleep(endAt - Date.now());
    const stoppedAt = Date.now();
    for (const survivor of survivors) survivor.child.kill('SIGTERM');
    for (const survivor of survivors) expect(await survivor.exited).toBe(0);

    type Row = {
      plan: string;
      fire: string | null;
      status: string;
      hub: string;
      error: string | null;
      started_at: string;
    };
    const rows = await query<Row>(db, 'select plan, fire, status, hub, error, started_at from runs');
    // None twice: at most one record per (plan, fire time).
    const byFire = new Map<string, Row[]>();
    for (const row of rows) byFire.set(row.fire!, [...(byFire.get(row.fire!) ?? []), row]);
    expect([...byFire.values()].filter((list) => list.length > 1)).toEqual([]);
    expect(rows.every((row) => row.fire?.startsWith(`${row.plan}@`))).toBe(true);
    // Every fire while all hubs were up and after: ran, or skipped with a reason.
    // From when every hub had scheduled every plan (its `scheduled` notes): on a loaded machine a
    // hub can take seconds to start, and a fire due before any hub runs is nobody's to send.
    const scheduledAt = Math.max(
      ...schedulers.flatMap((s) =>
        s.lines
          .filter((line) => line.type === 'scheduler' && line.event === 'scheduled')
          .map((line) => Date.parse(line.time as string)),
      ),
    );
    const first = Math.ceil(Math.max(started + 3000, scheduledAt + 1000) / 1000) * 1000;
    const last = Math.floor((stoppedAt - 3000) / 1000) * 1000;
    const missing: string[] = [];
    for (const plan of [...Array.from({ length: PLANS }, (_, i) => `v${i}`), 'w0', 'w1']) {
      for (let at = first; at <= last; at += 1000) {
        const key = `${plan}@${new Date(at).toISOString()}`;
        const row = byFire.get(key)?.[0];
        if (row === undefined || (row.status === 'skipped' && !row.error)) missing.push(key);
      }
    }
    const jobs =
      missing.length === 0
        ? []
        : await query(
            db,
            "select data, state, retry_count, created_on, started_on, completed_on from sendense_fires.job where data->>'plan' || '@' || (data->>'fire') = any($1)",
            [missing],
          );
    const count = (pick: (row: Row) => boolean) => rows.filter(pick).length;
    // A run the victim had going when it was killed (a fire of the same second as `slow`'s kill) is
    // failed by a survivor, saying the hub stopped answering: that is the outcome asked for.
    const diedWithVictim = (row: Row) =>
      row.hub === victimHub &&
      Date.parse(row.started_at) <= killedAt &&
      row.status === 'failed' &&
      new RegExp(`hub ${victimHub} .* stopped answering: no heartbeat`).test(row.error ?? '');
    console.info(
      `${rows.length} fires recorded over ${((stoppedAt - started) / 1000).toFixed(0)} s, every hub scheduling ${((scheduledAt - started) / 1000).toFixed(1)} s after their spawn: ` +
        HUBS.map((hub) => `${hub} ran ${count((row) => row.hub === hub && row.status !== 'skipped')}`).join(', ') +
        `; skipped ${count((row) => row.status === 'skipped')}; ${victimHub} killed; reaped after ${((Date.parse(reaped.time as string) - killedAt) / 1000).toFixed(1)} s (bound ${DEAD_AFTER_MS / 1000} s); ${count((row) => row.plan !== 'slow' && diedWithVictim(row))} other run(s) going on ${victimHub} failed with it`,
    );
    expect(
      missing,
      JSON.stringify({ started: new Date(started), killedAt: new Date(killedAt), victimHub, jobs }),
    ).toEqual([]);
    // Those runs succeeded (a run still going at the final SIGTERM is interrupted by it).
    const fireTime = (row: Row) => Date.parse(row.fire!.slice(row.fire!.indexOf('@') + 1));
    const stoppedByTest = (row: Row) => row.status === 'interrupted' && /SIGTERM/.test(row.error ?? '');
    const unsuccessful = rows.filter(
      (row) =>
        /^[vw]/.test(row.plan) &&
        fireTime(row) <= last &&
        !['skipped', 'succeeded'].includes(row.status) &&
        !stoppedByTest(row) &&
        !diedWithVictim(row),
    );
    expect(unsuccessful, JSON.stringify({ victimHub, killedAt: new Date(killedAt), unsuccessful })).toEqual([]);
    // A fire runs only on a hub whose config lists the plan's repository.
    expect(rows.filter((row) => row.plan.startsWith('w') && row.status === 'succeeded').length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.plan.startsWith('w') && row.hub === 'hub-3')).toEqual([]);
    // Nothing ran on the dead hub after its death; the survivors shared the work.
    expect(rows.filter((row) => row.hub === victimHub && Date.parse(row.started_at) > killedAt)).toEqual([]);
    const survivorHubs = new Set(
      rows
        .filter((row) => Date.parse(row.started_at) > killedAt + DEAD_AFTER_MS && row.status === 'succeeded')
        .map((row) => row.hub),
    );
    expect([...survivorHubs].sort()).toEqual(HUBS.filter((hub) => hub !== victimHub));
    expect(laterSlow.plan).toBe('slow');
    // Fires of `slow` while a run of it was going: skipped, saying which run on which hub.
    expect(
      rows.some(
        (row) =>
          row.plan === 'slow' && row.status === 'skipped' && /still going \(run .* on hub hub-\d/.test(row.error ?? ''),
      ),
    ).toBe(true);
    // Every hold is given back.
    for (const table of ['disk_slots', 'vm_locks', 'port_leases'])
      expect(await query(db, `select * from ${table}`)).toEqual([]);

    // history says which hub ran what (text and JSON).
    const history = await sendenseRun(['history', '--db', db, '--json', '--limit', '5000']);
    expect(history.exitCode).toBe(0);
    const records = history.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { hub: string; id: string });
    expect(records.find((record) => record.id === slowRun)?.hub).toBe(victimHub);
    const table = await sendenseRun(['history', '--db', db, '--plan', 'slow']);
    expect(table.stdout).toMatch(/STATUS\s+HUB/);
    expect(table.stdout).toContain(victimHub);
  }, 180_000);
});
