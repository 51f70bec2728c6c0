// A verified restore to a node reads each restored disk once ON THE NODE, against the digests of
// its chain's manifests (the node transfer's --check-restored, docs/how-it-works.md#a-verified-restore):
// through the real CLI a correct restore passes that way, the step saying where it read, and the
// chain is not compared through the tunnel; a restored disk changed on the node afterwards (data,
// data partly covered by a newer file, a hole) is found there and the restore's verify fails naming
// the disk and the offset; a file of the chain that differs from its manifest where a newer file
// covers part of a range is found on the hub and marked damaged. The chain is a real one (3 points
// of a 2-disk VM, test/restore/restore-chain.ts).

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSendenseError } from '../../src/errors.js';
import type { RestoreRun } from '../../src/kinds/restore/restore-run.js';
import { verify } from '../../src/kinds/restore/verify.js';
import type { NodeHost, PortForwards } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { openStore, type Store } from '../../src/store/index.js';
import { fileTarget } from '../../src/restore/targets/file-target.js';
import { identify, killIfAlive } from '../support/processes.js';
import { recordedProcesses, tableRows } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, type RunEventLine } from '../support/sendense-cli.js';
import { differenceBetween, portRangeForTestFile } from '../support/vm-disks.js';
import { DISK_KEYS, DISK_SIZES, backUpVm, type BackedUpVm } from '../restore/restore-chain.js';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { nodeBlock, processesMentioning, startTestNode, type TestNode } from './ssh-node.js';
import { writeOwnLayer } from '../verify/chain-fixture.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('verify-node-', { per: 'file' });
const servers = useNbdServers();
let node: TestNode | undefined;
let host: NodeHost | undefined;
let vm: BackedUpVm;
let store: Store;
let restores = 0;

beforeAll(async () => {
  node = await startTestNode();
  vm = await backUpVm(ws.dir, { vm: 'nvm', ports, points: 3 });
  store = await openStore(vm.db);
  host = await connectSshNode(nodeBlock(node), { agent: false });
}, 180_000);

afterAll(async () => {
  await host?.close();
  await store?.close();
  for (const pid of processesMentioning(ws.dir)) killIfAlive(identify(pid));
  await node?.stop();
});

// The CLI restores `point` to files on the node; returns each disk's restored file and the run's events.
async function restoreToNode(
  point: string,
  format: 'qcow2' | 'raw',
  verified: boolean,
): Promise<{ files: Record<number, string>; events: RunEventLine[] }> {
  restores += 1;
  const out = path.join(ws.dir, `restore-${restores}`);
  mkdirSync(out);
  const plan = writeRestorePlan(out, {
    name: `node-${restores}`,
    vm: vm.vm,
    repository: vm.repository,
    ports,
    point,
    verify: verified,
    node: nodeBlock(node!),
    target: { type: 'file', path: path.join(out, `disk-{key}.${format}`), format },
  });
  const result = await sendenseRun([plan, '--db', vm.db, '--json']);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const files = Object.fromEntries(DISK_KEYS.map((key) => [key, path.join(out, `disk-${key}.${format}`)]));
  return { files, events: parseEvents(result.stdout) };
}

describe('a verified restore to a node: one read of each restored disk there, against the manifests', () => {
  it('passes a correct restore (qcow2 and raw) reading each disk on the node, without the long way', async () => {
    const top = vm.backups.at(-1)!;
    const latest = await restoreToNode('latest', 'qcow2', true);
    const done = latest.events.find((event) => event.type === 'step-done' && event.step === 'verify');
    expect(done?.summary).toMatch(
      new RegExp(
        `^2 disk\\(s\\) identical to backup ${top.id}: read once on \\S+@\\S+ \\(.+\\) and every range checked against the digests taken at backup time$`,
      ),
    );
    expect(latest.events.filter((event) => event.message?.includes('comparing with the chain'))).toEqual([]);
    for (const key of DISK_KEYS)
      expect(differenceBetween(latest.files[key]!, vm.copies[2]![key]!), `disk ${key}`).toBe('');

    const first = await restoreToNode(vm.backups[0]!.id, 'raw', true);
    expect(first.events.find((event) => event.type === 'step-done' && event.step === 'verify')?.summary).toMatch(
      /^2 disk\(s\) identical to backup \S+: read once on \S+@\S+ /,
    );
    expect(recordedProcesses(vm.db)).toEqual([]);
  }, 120_000);

  // Point 3 of disk 2000: 0x16 at 0-4K over the full's 0x11 (0-2 MiB of the full partly covered);
  // a hole at 50M. Disk 2001: zeroes written over data in its first MiB (point 3).
  for (const [what, key, offset] of [
    ['data the newest file wrote', 2000, 0],
    ['data an older file wrote, partly covered by a newer one', 2000, 1 * MiB],
    ['a hole', 2000, 50 * MiB],
    ['zeroes written over data', 2001, 512 * 1024],
  ] as const) {
    it(`fails, naming disk and offset, when one byte of the restored disk on the node differs where the point holds ${what}`, async () => {
      const { files } = await restoreToNode('latest', 'qcow2', false);
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${offset} 512`, files[key]!], { stdio: 'ignore' });
      const { run, events, forwards } = await verifyRunOnNode(files);
      try {
        const error = await verify.run(run).then(
          (summary) => new Error(`verify passed: ${String(summary)}`),
          (caught: unknown) => caught as Error,
        );
        expect(isSendenseError(error), error.message).toBe(true);
        expect(error.message).toMatch(
          new RegExp(`restored disk ${key} \\(.*disk-${key}\\.qcow2\\) differs from backup .*${offset}`),
        );
        // The node's check found it (then the full comparison, through the tunnel, worded it).
        expect(events.map((event) => event.message)).toContainEqual(
          expect.stringMatching(
            new RegExp(`^disk ${key}: the check on \\S+ did not say equal \\(differs at offset \\d+`),
          ),
        );
      } finally {
        await forwards.close();
      }
    }, 60_000);
  }

  // Last: it marks the chain damaged.
  it('stops when an older file differs from its manifest under a newer write, and marks it and its children damaged', async () => {
    const { files } = await restoreToNode('latest', 'qcow2', false);
    const [full, , top] = vm.backups;
    // The full's range at 0-2 MiB, where point 3's 4 KiB write hides the first 4 KiB: the restored
    // disk reads the same, but that range no longer matches its digest (read on the hub, not the node).
    writeOwnLayer(full!.disks.find((disk) => disk.diskKey === 2000)!.file, 'write -P 0x77 0 4K');
    const { run, forwards } = await verifyRunOnNode(files);
    try {
      const error = await verify.run(run).then(
        (summary) => new Error(`verify passed: ${String(summary)}`),
        (caught: unknown) => caught as Error,
      );
      expect(error.message).toMatch(
        new RegExp(
          `backup ${full!.id} differs from what was read from the source: data differs at guest offset 0 .*now marked damaged`,
        ),
      );
    } finally {
      await forwards.close();
    }
    const damaged = (tableRows(vm.db, 'backups') as { id: string; damage: string | null }[])
      .filter((backup) => backup.damage !== null)
      .map((backup) => backup.id);
    expect(damaged.sort()).toEqual([full!.id, vm.backups[1]!.id, top!.id].sort());
  }, 60_000);
});

// The verify step of a restore of the latest point into `restored` on the node, the point served
// by a read-only qemu-nbd on the hub and forwarded to the node, as the restore serves it (the full
// comparison reads it there); events the step emits are collected.
async function verifyRunOnNode(
  restored: Record<number, string>,
): Promise<{ run: RestoreRun; events: { message?: string }[]; forwards: PortForwards }> {
  const top = vm.backups.at(-1)!;
  const runId = (tableRows(vm.db, 'runs') as { id: string }[]).at(-1)!.id;
  const served = [];
  for (const key of DISK_KEYS) {
    const file = top.disks.find((disk) => disk.diskKey === key)!.file;
    const server = await startQemuNbd({ file, readOnly: true, exportName: `disk-${key}` });
    servers.push(server);
    served.push({ key, file, port: Number(new URL(server.url).port) });
  }
  const forwards = await host!.forwardPorts(served.map((disk) => disk.port));
  const disks = served.map(({ key, file, port }) => ({
    key,
    file,
    virtualSize: DISK_SIZES[key]!,
    exportName: `disk-${key}`,
    port,
    nodePort: forwards.nodePorts.get(port),
    targetPath: restored[key],
  }));
  const events: { message?: string }[] = [];
  const spec = { type: 'file', path: 'unused-{key}', format: 'qcow2', overwrite: false, mode: 0o600 } as const;
  const run = {
    runId,
    plan: { restore: { verify: true, target: spec } },
    target: fileTarget(spec),
    node: host!,
    store,
    reporter: { emit: (event: { message?: string }) => events.push(event) },
    signal: new AbortController().signal,
    state: { backupId: top.id, disks },
  } as unknown as RestoreRun;
  return { run, events, forwards };
}
