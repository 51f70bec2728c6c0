// A replica's files have names anyone can work out: its layers are named by point id, a failover's
// or test's overlay by the point it starts from, a manifest's temp by the manifest. Whoever can
// write replica.path's directory may put a symlink there; nothing is made or written where it
// points (docs/threat-model.md). Run on this host through the same exec a node's scripts use.

import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { execOn } from '../../src/libvirt/virsh.js';
import { createLocalNode } from '../../src/node/local.js';
import { createLayer } from '../../src/replica/replica-files.js';
import { renameTemp } from '../../src/replica/replica-layout.js';
import {
  readReplicaManifest,
  REPLICA_MANIFEST_FORMAT,
  REPLICA_MANIFEST_VERSION,
  writeReplicaManifest,
  type ReplicaManifest,
} from '../../src/replica/replica-manifest.js';

const MANIFEST: ReplicaManifest = {
  format: REPLICA_MANIFEST_FORMAT,
  version: REPLICA_MANIFEST_VERSION,
  plan: 'vm-replica',
  vm: 'vm',
  pointId: '20261127-010000-abcd',
  diskKey: 2000,
  layer: 'vm.qcow2.20261127-010000-abcd',
  virtualSize: 1024 * 1024,
  folded: [],
  digests: { algorithm: 'xxh64', data: [[0, 65536, '0123456789abcdef']], zero: [[65536, 65536]] },
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('a new layer is refused where a symlink to nothing stands, and nothing is made where it points', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-replica-layer-'));
  dirs.push(dir);
  const exec = execOn(createLocalNode());
  mkdirSync(path.join(dir, 'elsewhere'));
  const pointed = path.join(dir, 'elsewhere', 'made-by-us.qcow2');
  const overlay = path.join(dir, 'vm.qcow2.test-20261127-010000-abcd');
  symlinkSync(pointed, overlay);
  await expect(createLayer(exec, overlay, { virtualSize: 1024 * 1024 })).rejects.toThrow(`${overlay} already exists`);
  expect(existsSync(pointed)).toBe(false);
  expect(lstatSync(overlay).isSymbolicLink()).toBe(true);

  // Where nothing stands, the layer is made, private.
  const layer = path.join(dir, 'vm.qcow2.20261127-010000-abcd');
  await createLayer(exec, layer, { virtualSize: 1024 * 1024 });
  expect(lstatSync(layer).isFile()).toBe(true);
  expect(lstatSync(layer).mode & 0o777).toBe(0o600);
});

it("a manifest's temp name that is a symlink is removed, never written through", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-replica-manifest-'));
  dirs.push(dir);
  const exec = execOn(createLocalNode());
  const outside = path.join(dir, 'not-ours.conf');
  writeFileSync(outside, 'not ours\n');
  const file = path.join(dir, 'vm.qcow2.20261127-010000-abcd.json');
  symlinkSync(outside, renameTemp(file));
  await writeReplicaManifest(exec, file, MANIFEST);
  expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
  expect(lstatSync(file).isFile()).toBe(true);
  expect(await readReplicaManifest(exec, file)).toEqual({ manifest: MANIFEST });
});
