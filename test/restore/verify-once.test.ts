// A verified restore on this host reads each restored disk once, against the digests of its
// chain's manifests (src/kinds/restore/verify-digests.ts): a correct restore passes that way; a
// byte changed where the point holds data, zeroes written, or a hole fails, named by the full
// comparison; a file of the chain that differs from its manifest where a newer file covers part
// of a range stops the restore and is marked damaged. The chain is a real one (3 points of a
// 2-disk VM taken by the CLI: data, zeroes written, discards, a 4 KiB write inside an older 2 MiB
// range); the verify step runs on restores the CLI made with verify: false.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSendenseError } from '../../src/errors.js';
import type { RestoreRun } from '../../src/kinds/restore/restore-run.js';
import { verify } from '../../src/kinds/restore/verify.js';
import { createLocalNode } from '../../src/node/local.js';
import { openStore, type Store } from '../../src/store/index.js';
import { fileTarget } from '../../src/restore/targets/file-target.js';
import { recordedProcesses, tableRows } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { DISK_KEYS, DISK_SIZES, backUpVm, type BackedUpVm } from './restore-chain.js';
import { writeRestorePlan } from './restore-plan.js';
import { writeOwnLayer } from '../verify/chain-fixture.js';

const MiB = 1024 * 1024;
const PORTS: [number, number] = [30040, 30059];
const ws = useRunWorkspace('verify-once-', { per: 'file' });
const servers = useNbdServers();
let vm: BackedUpVm;
let store: Store;
let restores = 0;

beforeAll(async () => {
  vm = await backUpVm(ws.dir, { vm: 'ovm', ports: PORTS, points: 3 });
  store = await openStore(vm.db);
}, 120_000);

afterAll(async () => {
  await store?.close();
});

// The latest point restored by the CLI without verify: each disk's restored qcow2.
async function restoreUnverified(): Promise<Record<number, string>> {
  restores += 1;
  const out = path.join(ws.dir, `restore-${restores}`);
  mkdirSync(out);
  const plan = writeRestorePlan(out, {
    name: `once-${restores}`,
    vm: vm.vm,
    repository: vm.repository,
    ports: PORTS,
    point: 'latest',
    verify: false,
    target: { type: 'file', path: path.join(out, 'disk-{key}.qcow2'), format: 'qcow2' },
  });
  const result = await sendenseRun([plan, '--db', vm.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return Object.fromEntries(DISK_KEYS.map((key) => [key, path.join(out, `disk-${key}.qcow2`)]));
}

// The verify step of a restore of the latest point into `restored`, on this host, the point served
// by a read-only qemu-nbd as the restore serves it (the full comparison reads it there).
async function verifyRun(restored: Record<number, string>): Promise<RestoreRun> {
  const top = vm.backups.at(-1)!;
  const runId = (tableRows(vm.db, 'runs') as { id: string }[]).at(-1)!.id;
  const disks = [];
  for (const key of DISK_KEYS) {
    const file = top.disks.find((disk) => disk.diskKey === key)!.file;
    const server = await startQemuNbd({ file, readOnly: true, exportName: `disk-${key}` });
    servers.push(server);
    disks.push({
      key,
      file,
      virtualSize: DISK_SIZES[key]!,
      exportName: `disk-${key}`,
      port: Number(new URL(server.url).port),
      targetPath: restored[key],
    });
  }
  const spec = { type: 'file', path: 'unused-{key}', format: 'qcow2', overwrite: false, mode: 0o600 } as const;
  return {
    runId,
    plan: { restore: { verify: true, target: spec } },
    target: fileTarget(spec),
    node: createLocalNode(),
    store,
    state: { backupId: top.id, disks },
  } as unknown as RestoreRun;
}

async function verifyError(run: RestoreRun): Promise<Error> {
  const error = await verify.run(run).then(
    (summary) => new Error(`verify passed: ${String(summary)}`),
    (caught: unknown) => caught as Error,
  );
  expect(isSendenseError(error), error.message).toBe(true);
  return error;
}

describe('verify on this host: one read of each restored disk against the manifests', () => {
  it('passes a correct restore reading each disk once, and leaves no qemu-nbd behind', async () => {
    const summary = await verify.run(await verifyRun(await restoreUnverified()));
    expect(summary).toMatch(
      new RegExp(
        `^2 disk\\(s\\) identical to backup ${vm.backups.at(-1)!.id}: read once \\(.+\\) and every range checked against the digests taken at backup time$`,
      ),
    );
    expect(recordedProcesses(vm.db)).toEqual([]);
  });

  // Point 3 of disk 2000: 0x16 at 0-4K over the full's 0x11; zeroes written at 2M-4M (point 2);
  // a hole at 50M; disk 2001's first MiB zeroes written over data (point 3).
  for (const [what, key, offset] of [
    ['data the newest file wrote', 2000, 0],
    ['data an older file wrote, partly covered by a newer one', 2000, 1 * MiB],
    ['zeroes written', 2000, 3 * MiB],
    ['a hole', 2000, 50 * MiB],
    ['zeroes written over data', 2001, 512 * 1024],
  ] as const) {
    it(`fails when one byte of the restored disk differs where the point holds ${what}`, async () => {
      const restored = await restoreUnverified();
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${offset} 512`, restored[key]!], {
        stdio: 'ignore',
      });
      const error = await verifyError(await verifyRun(restored));
      expect(error.message).toMatch(
        new RegExp(`restored disk ${key} \\(.*disk-${key}\\.qcow2\\) differs from backup .*${offset}`),
      );
    });
  }

  it('stops when an older file differs from its manifest under a newer write, and marks it and its children damaged', async () => {
    const restored = await restoreUnverified();
    const [full, , top] = vm.backups;
    // The full's range at 0-2 MiB, where point 3's 4 KiB write hides the first 4 KiB: the restored
    // disk reads the same, but that range no longer matches its digest.
    writeOwnLayer(full!.disks.find((disk) => disk.diskKey === 2000)!.file, 'write -P 0x77 0 4K');
    const error = await verifyError(await verifyRun(restored));
    expect(error.message).toMatch(
      new RegExp(
        `backup ${full!.id} differs from what was read from the source: data differs at guest offset 0 .*now marked damaged`,
      ),
    );
    const damaged = (tableRows(vm.db, 'backups') as { id: string; damage: string | null }[])
      .filter((backup) => backup.damage !== null)
      .map((backup) => backup.id);
    expect(damaged.sort()).toEqual([full!.id, vm.backups[1]!.id, top!.id].sort());
  });
});
