// A replicate sync of a running libvirt domain after `virsh blockresize` down to half and back up
// (docs/how-it-works.md#change-tracking-by-source): the checkpoint's bitmap says nothing changed
// where the disk now reads zeroes, so the sync copies that disk whole, warned, and replica.path
// holds zeroes where the guest's old data was (./replica-scene.ts, ../libvirt/guest-writes.ts).

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { virsh } from '../support/libvirt-guest.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { guestWritesBusybox, shrunkAndGrown, vdbDifference, VDB } from '../libvirt/guest-writes.js';
import { useReplicaScene } from './replica-scene.js';

const MiB = 1024 * 1024;
const scene = useReplicaScene('replshrink');

// replica.path of vdb as raw bytes (its chain read through, -U: the replica node may hold it).
function replicaVdb(): string {
  const raw = path.join(scene.ws.dir, 'replica-vdb.raw');
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', scene.replicaPath(2001), raw]);
  return raw;
}

it('a sync after virsh blockresize down and up copies that disk whole, warned: the replica reads zeroes where the old data was', async () => {
  await scene.sync();
  const tail = await guestWritesBusybox(scene.guest(), 48 * MiB);
  await scene.sync();
  expect(vdbDifference(replicaVdb(), [tail])).toBe('');

  virsh('blockresize', scene.guest().name, 'vdb', `${VDB / 2}B`);
  virsh('blockresize', scene.guest().name, 'vdb', `${VDB}B`);
  const result = await sendenseRun([scene.plan(), '--db', scene.ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(result.stdout + result.stderr).toMatch(shrunkAndGrown(2001));
  expect(scene.complete().at(-1)!.type).toBe('incremental');
  expect(vdbDifference(replicaVdb(), []), 'the replica after the shrink and grow').toBe('');
}, 300_000);
