// A remote node computes the sample itself (docs/anomaly.md#what-is-measured): the same changes of
// a real ext4 disk, backed up once on this host and once through an SSH node, record the same
// changed bytes and the same figures.

import { expect, it } from 'vitest';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { nodeBlock, useSshWorkspace, writeSshBackupPlan } from '../ssh/ssh-node.js';
import { DOCUMENTS, encryptInPlace, makeGuestFs, ordinaryChange } from './guest-fs.js';

const ports = portRangeForTestFile();
const ws = useSshWorkspace('anomaly-ssh-');

it('the node sends the figures: an SSH node records what this host records', async () => {
  const guest = makeGuestFs(ws.dir);
  const disks = [{ key: 2000, path: guest.source }];
  const here = writePlan(ws.dir, { name: 'here', vm: 'herevm', disks, repository: ws.repository, ports });
  const there = writeSshBackupPlan(ws.dir, {
    name: 'there',
    vm: 'therevm',
    disks,
    repository: ws.repository,
    ports,
    node: nodeBlock(ws.node),
  });
  const both = async () => {
    for (const plan of [here, there]) {
      const result = await sendenseRun([plan, '--db', ws.db]);
      expect(result.exitCode, `${plan}\n${result.stdout}\n${result.stderr}`).toBe(0);
    }
  };
  await both();
  ordinaryChange(guest, 1);
  await both();
  encryptInPlace(guest, DOCUMENTS.slice(0, 8));
  await both();

  const figures = async (vm: string) =>
    (await listBackups(ws.db, vm)).map((backup) => ({
      type: backup.type,
      bytes: backup.bytes,
      sample: (backup.disks[0] as unknown as { sample: unknown }).sample,
    }));
  const local = await figures('herevm');
  expect(local.map((point) => point.type)).toEqual(['full', 'incremental', 'incremental']);
  for (const point of local) expect(point.sample).toMatchObject({ sampledBlocks: expect.any(Number) });
  expect(await figures('therevm')).toEqual(local);
}, 300_000);
