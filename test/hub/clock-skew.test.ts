// Hubs on different hosts disagree about the time. A live hub whose clock runs a minute behind
// must not look dead to the others (its heartbeats stamped a minute "ago"): its VM lock holds,
// and a run of the same VM on another hub is refused instead of reaping the live run and backing
// up the VM twice at once. Heartbeats are stamped and aged by PostgreSQL's clock.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotedProcesses } from '../support/processes.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { queryRows as query } from '../support/postgres-server.js';
import { usePostgresServer } from '../support/store-dialects.js';
import { startNbdkit, useNbdServers } from '../support/qemu-nbd-server.js';
import { makeSandbox, planDoc, writePlanFile, type Sandbox } from '../schedule/test-plans.js';

const SKEWED_CLOCK = path.resolve('test/support/skewed-clock.mjs');
let box: Sandbox | undefined;
const started = new NotedProcesses();

afterEach(() => {
  started.killAll();
  box?.remove();
  box = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hubs whose clocks disagree, on one PostgreSQL', () => {
  const postgres = usePostgresServer();
  const servers = useNbdServers();

  it("a live hub a minute behind keeps its VM lock: the other hub's run of that VM is refused, the live run goes on", async () => {
    box = makeSandbox('clock-skew');
    const db = await postgres.server.createDatabase('skew');
    // A source served at 4 MiB/s: the run behind holds its VM lock through a 16 s copy.
    const server = await startNbdkit(
      ['--filter=rate', 'data', 'data=(0x5a)*67108864', 'size=64M', 'rate=32M'],
      path.join(box.dir, 'kit.sock'),
    );
    servers.push(server);
    const plan = writePlanFile(
      path.join(box.dir, 'held.yaml'),
      planDoc(box, 'held', {
        kind: 'backup',
        vm: { name: 'vm-held', source: { type: 'nbd', disks: [{ key: 2000, url: server.url }] } },
      }),
    );
    const configs = ['hub-behind', 'hub-right'].map((name) => {
      const file = path.join(box!.dir, `${name}.yaml`);
      writeFileSync(file, `name: ${name}\n`);
      return file;
    });
    // Beats every 0.5 s: by its own clock, a hub is dead after 3 s without one.
    const beats = { SENDENSE_HEARTBEAT_SECONDS: '0.5' };
    const behind = startSendenseRun([plan, '--db', db, '--hub-config', configs[0]!], {
      ...beats,
      NODE_OPTIONS: `--import=${SKEWED_CLOCK}`,
      SENDENSE_TEST_CLOCK_SKEW_MS: '-60000',
    });
    started.add(behind.pid);
    await behind.waitForEvent(
      (event) => event.type === 'progress' && event.bytesDone! > 0 && event.bytesDone! < event.bytesToDo!,
    );
    await sleep(1500);
    // The skew is real: its own stamps (the run's start) are a minute off the database's clock.
    const [run] = await query<{ id: string; started_at: string }>(
      db,
      "select id, started_at from runs where hub = 'hub-behind'",
    );
    expect(Date.now() - Date.parse(run!.started_at)).toBeGreaterThan(55_000);

    const other = await sendenseRun([plan, '--db', db, '--hub-config', configs[1]!], beats);
    expect(other.exitCode, `${other.stdout}\n${other.stderr}`).toBe(1);
    expect(other.stderr).toMatch(
      new RegExp(`VM vm-held is being backed up by run ${run!.id} of plan held \\(hub hub-behind, pid ${behind.pid}`),
    );
    expect(other.stderr).not.toMatch(/\n\s+at /);
    const [row] = await query<{ status: string }>(db, 'select status from runs where id = $1', [run!.id]);
    expect(row!.status).toBe('running');
    expect((await query<{ run_id: string }>(db, 'select run_id from vm_locks')).map((lock) => lock.run_id)).toEqual([
      run!.id,
    ]);

    process.kill(behind.pid, 'SIGTERM');
    const end = await behind.exited;
    expect(end.exitCode, end.stderr).toBe(130);
  }, 60_000);
});
