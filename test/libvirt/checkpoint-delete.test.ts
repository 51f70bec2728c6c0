// Deleting a checkpoint while libvirt does not answer (libvirtd restarting) is a failure, never
// taken for "not there": the caller keeps its record and doctor deletes it once libvirt answers
// (campaign seed 5603, libvirt: a superseded checkpoint left for good after a libvirtd restart).
// A real virsh against a libvirt socket where no daemon listens; a real image with the bitmap.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { deleteCheckpoint } from '../../src/libvirt/checkpoints.js';
import { virshOn } from '../../src/libvirt/virsh.js';
import { execLocal } from '../../src/node/local.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { bitmapNames } from '../support/vm-disks.js';

const ws = useRunWorkspace('checkpoint-delete-');

it('a checkpoint deleted while libvirt does not answer: an error, and the image keeps its bitmap', async () => {
  const image = path.join(ws.dir, 'vda.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
  execFileSync('qemu-img', ['bitmap', '--add', image, 'sendense-c1-b1']);
  const virsh = virshOn(execLocal, `qemu+unix:///system?socket=${path.join(ws.dir, 'no-libvirtd.sock')}`);
  await expect(
    deleteCheckpoint(virsh, execLocal, 'some-domain', 'sendense-c1-b1', [{ target: 'vda', path: image }]),
  ).rejects.toThrow(/delete checkpoint sendense-c1-b1 of domain some-domain: .*connect/);
  expect(bitmapNames(image)).toEqual(['sendense-c1-b1']);
});
