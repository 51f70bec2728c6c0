// A sync never installs over a disk a running domain uses (docs/replication.md#one-replica-per-plan):
// a replicate plan whose replica.path is the running busybox guest's disk, with a state database
// of its own (nothing records that disk as another plan's replica), is refused before it creates
// anything, and the guest's disk stays the file the guest writes.

import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startGuest, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-in-use-');
let guest: TestGuest;

beforeAll(async () => {
  guest = await startGuest({ name: 'replica-in-use', agent: false });
}, 180_000);
afterAll(() => guest?.remove());

it('a sync whose replica.path is a running domain\u2019s disk is refused, and that disk is left as it is', async () => {
  const source = path.join(ws.dir, 'source.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', source, '64M']);
  execFileSync('qemu-io', ['-c', 'write -P 0x77 0 8M', source], { stdio: 'ignore' });
  const disk = guest.images.vdb!;
  const plan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'onto-a-running-disk',
      vm: { name: 'othervm', source: { type: 'qemu', disks: [{ key: 2000, path: source, format: 'qcow2' }] } },
      replica: { path: disk, points: 2, scratch: ws.dir },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  const inode = statSync(disk).ino;
  const files = readdirSync(guest.dir).sort();
  const refused = await sendenseRun([plan, '--db', ws.db]);
  expect(refused.exitCode, refused.stdout).toBe(1);
  expect(refused.stderr).toMatch(/is in use by a running program \(a VM\?\): a sync never installs over a disk in use/);
  expect(refused.stderr).not.toMatch(/\n\s+at /);
  expect(statSync(disk).ino).toBe(inode);
  expect(readdirSync(guest.dir).sort()).toEqual(files);
  expect(guest.running()).toBe(true);
}, 180_000);
