// A replica's layers are named by point id (and a failover's or test's overlay by the point it
// starts from: a name anyone can work out). Whoever can write replica.path's directory may put a
// symlink to nothing there; a new layer is refused rather than made where it points
// (docs/threat-model.md). Run on this host through the same exec a node's scripts use.

import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { execOn } from '../../src/libvirt/virsh.js';
import { createLocalNode } from '../../src/node/local.js';
import { createLayer } from '../../src/replica/replica-files.js';

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
