// kill -9 of a VMware backup while vSphere is still making its snapshot, against a SIMULATED
// vSphere (vcsim behind the faked-CBT proxy, which holds the snapshot task running until the test
// releases it, as vSphere's tasks run on after their call): doctor finds no snapshot of the run's
// name yet, so it waits for the run's recorded task, and when that is still running it keeps the
// record and says so; once the snapshot has appeared, the next doctor removes it and the record.
// Without a recorded task (killed while asking), a snapshot task of the VM still running keeps it too.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { killAtEnv } from '../../src/crash-points.js';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { runKilledAt } from '../support/kill-moments.js';
import { tableRows } from '../support/process-tree.js';
import { DEADLINE_UNDER_LOAD_MS, NotedProcesses } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../support/vsphere-cbt-proxy.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { vcsimSnapshotNames, type VcsimLogin } from './vcsim-looks.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim task pa55!';
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD };
const SIZES = new Map([[2000, 8 * MiB]]);
const [first, last] = portRangeForTestFile(4);
const ws = useRunWorkspace('vmware-snapshot-task-simulated-', { per: 'file' });
const noted = new NotedProcesses();

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;
let plan = '';

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-snapshot-task-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: SIZES });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  plan = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'vmw-snapshot-task-simulated',
      vm: {
        name: 'vmw',
        source: {
          type: 'vmware',
          endpoint: proxy.endpoint,
          username: USER,
          passwordEnv: 'TEST_VCENTER_PASSWORD',
          path: vcsim.vmPath,
          certificateSha256: sha256,
          disks: [{ key: 2000 }],
        },
      },
      repository: { path: path.join(ws.dir, 'repository') },
      nbd: { ports: `${first}-${last}` },
    }),
  );
  execFileSync('truncate', ['-s', String(8 * MiB), vcsim.disks[0].flat]);
}, 300_000);

afterEach(() => noted.killAll());

afterAll(async () => {
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

const login = (): VcsimLogin => ({ vcsim, sha256, username: USER, password: PASSWORD });
const snapshotNames = (): Promise<string[]> => vcsimSnapshotNames(login());

function snapshotRecords(): { name: string; facts: Record<string, unknown> }[] {
  return (tableRows(ws.db, 'node_resources') as { kind: string; name: string; facts: string }[])
    .filter((row) => row.kind === 'vmware-snapshot')
    .map((row) => ({ name: row.name, facts: JSON.parse(row.facts) as Record<string, unknown> }));
}

// A run killed once vSphere has taken its CreateSnapshot_Task and the run has recorded the task.
async function runKilledWhileAsking(): Promise<void> {
  const killed = await runKilledAt(
    [plan, '--db', ws.db],
    { name: 'with the snapshot asked for', env: { ...ENV, ...killAtEnv('vmware.snapshot-asked') } },
    (pid) => noted.add(pid),
  );
  expect(killed.signal, `${killed.stdout}\n${killed.stderr}`).toBe('SIGKILL');
}

it('simulated vSphere, killed while vSphere makes the snapshot: doctor keeps the record while the task runs; once the snapshot appears, the next doctor removes it', async () => {
  const held = proxy.holdSnapshots();
  await runKilledWhileAsking();
  const [record] = snapshotRecords();
  expect(record?.facts.task, JSON.stringify(record)).toBe('task-held-1');
  expect(await snapshotNames()).toEqual([]);

  // The snapshot is not there yet, and its task still runs: the record is kept, and doctor says so.
  const doctor = await sendenseRun(['doctor', '--db', ws.db], ENV);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(1);
  expect(doctor.stdout + doctor.stderr).toMatch(
    /vSphere is still making a snapshot of the VM \(task task-held-1\) after \d+ s: its record is kept; run doctor again once the task has ended/,
  );
  expect(snapshotRecords()).toEqual([record]);

  // vSphere finishes the snapshot after doctor looked.
  await held.release();
  const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
  while (!(await snapshotNames()).includes(record.name) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await snapshotNames(), `snapshot ${record.name} made once released`).toEqual([record.name]);

  const again = await sendenseRun(['doctor', '--db', ws.db], ENV);
  expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
  expect(await snapshotNames()).toEqual([]);
  expect(snapshotRecords()).toEqual([]);
  const third = await sendenseRun(['doctor', '--db', ws.db], ENV);
  expect(third.stdout, 'a third doctor finds nothing').toContain('nothing left behind');
  vcsim.repairDescriptors();
}, 300_000);

it('simulated vSphere, killed before the snapshot task was recorded: doctor keeps the record while a snapshot task of the VM runs; then removes the snapshot', async () => {
  const held = proxy.holdSnapshots();
  await runKilledWhileAsking();
  // As a run killed while asking leaves it: vSphere took the request, the record has no task.
  const db = new Database(ws.db);
  db.prepare("UPDATE node_resources SET facts = json_remove(facts, '$.task') WHERE kind = 'vmware-snapshot'").run();
  db.close();
  const [record] = snapshotRecords();
  expect(record?.facts.task, JSON.stringify(record)).toBeUndefined();

  const doctor = await sendenseRun(['doctor', '--db', ws.db], ENV);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(1);
  expect(doctor.stdout + doctor.stderr).toMatch(
    /vSphere is still making a snapshot of the VM \(task task-held-1, maybe not this run's\) after \d+ s: its record is kept/,
  );
  expect(snapshotRecords()).toEqual([record]);

  await held.release();
  const again = await sendenseRun(['doctor', '--db', ws.db], ENV);
  expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
  expect(await snapshotNames()).toEqual([]);
  expect(snapshotRecords()).toEqual([]);
  vcsim.repairDescriptors();
}, 300_000);
