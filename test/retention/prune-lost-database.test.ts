// PostgreSQL out of reach in the middle of `sendense-run prune` (the prune stopped by the test
// seam with the first disk copied, the database cut off, the prune let go on): it stops with one
// line that says it lost the state database, no stack, exit 1; the merge stays recorded, and once
// the database is back, doctor finishes it and records the run; every point left is exact.

import { afterEach, describe, expect, it } from 'vitest';
import { cuttableProxy } from '../support/cuttable-proxy.js';
import { identify, killIfAlive } from '../support/processes.js';
import { queryRows } from '../support/postgres-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { usePostgresServer } from '../support/store-dialects.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, expectPointsExact, writeRetentionPlan } from './point-chain.js';
import { waitUntilStopped } from './stopped-process.js';
import { stopAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('prune-lost-db-');
const ports = portRangeForTestFile();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('prune when PostgreSQL goes away', () => {
  const postgres = usePostgresServer();

  it(
    'stops with one line (exit 1); after the database is back, doctor finishes the merge and every point is exact',
    { timeout: 600_000 },
    async () => {
      const db = await postgres.server.createDatabase('prune');
      const proxy = await cuttableProxy(postgres.server.port);
      cleanups.push(() => proxy.close());
      const throughProxy = db.replace(`127.0.0.1:${postgres.server.port}/`, `127.0.0.1:${proxy.port}/`);
      expect(throughProxy).not.toBe(db);

      const chain = await backUpPoints(ws.dir, throughProxy, ws.repository, ports, 4, 'vmpg');
      for (const [i, id] of chain.ids.entries())
        await queryRows(db, 'update backups set started_at = $1 where id = $2', [
          new Date(Date.UTC(2026, 0, 1 + i, 2)).toISOString(),
          id,
        ]);

      // keepLast 3: the full folded into point 1; stopped once the first disk is copied.
      const cli = startSendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 3 }), '--db', throughProxy], {
        ...stopAtEnv('merge.copied'),
      });
      const cliProcess = identify(cli.pid);
      cleanups.push(() => killIfAlive(cliProcess));
      await waitUntilStopped(cli.pid);
      proxy.cut();
      process.kill(cli.pid, 'SIGCONT');
      const end = await cli.exited;

      const output = `${end.stdout}\n${end.stderr}`;
      expect(end.exitCode, output).toBe(1);
      const lines = end.stderr.trim().split('\n');
      expect(lines, output).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^sendense-run: lost the state database postgres:\/\/sendense@127\.0\.0\.1:\d+\/prune_\w+ during prune run \S+ \(.+\): stopped; run sendense-run doctor once it is reachable/,
      );
      expect(end.stderr).not.toMatch(/\n\s+at |internal error/);
      // The merge under way stays recorded, for doctor.
      expect(await queryRows(db, 'select phase from merges')).toEqual([{ phase: 'merging' }]);

      // The database back (reached directly): doctor finishes the merge and records the prune run.
      const doctor = await sendenseRun(['doctor', '--db', db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(doctor.stdout).toContain(`interrupted merge of backup ${chain.ids[0]} into ${chain.ids[1]}`);
      expect(await queryRows(db, 'select * from merges')).toEqual([]);
      const runs = await queryRows<{ kind: string; plan: string; status: string; error: string | null }>(
        db,
        "select kind, plan, status, error from runs where kind = 'prune' and plan <> 'doctor'",
      );
      expect(runs).toHaveLength(1);
      expect(runs[0]!.status).toBe('failed');
      expect(runs[0]!.error).toMatch(/ended without recording its end/);
      expect(await expectPointsExact({ ...chain, db })).toEqual(chain.ids.slice(1));
    },
  );
});
