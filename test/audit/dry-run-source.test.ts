// --dry-run on a source that a run could not read says so on resolve-chain (whatever the kind),
// and a raw-only VM is not promised a bitmap; nothing is created either way.

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports: [number, number] = [45920, 45939];
const ws = useRunWorkspace('audit-dry-');

describe('--dry-run and the source', () => {
  for (const kind of ['backup', 'incremental'] as const) {
    it(`a missing source file is named as a failure to come (kind ${kind})`, async () => {
      const missing = path.join(ws.dir, 'missing.qcow2');
      const plan = writePlan(ws.dir, {
        name: `missing-${kind}`,
        kind,
        vm: 'vm1',
        disks: [{ key: 2000, path: missing }],
        repository: path.join(ws.dir, 'repo'),
        ports,
      });
      const db = path.join(ws.dir, 'state.db');
      const result = await sendenseRun([plan, '--dry-run', '--db', db]);
      // It exits as the run would: 1.
      expect(result.exitCode, result.stderr).toBe(1);
      const resolve = result.stdout.split('\n').find((line) => line.includes('resolve-chain'));
      expect(resolve).toContain('would FAIL');
      expect(resolve).toContain(missing);
      expect(resolve).toMatch(/no such file/i);
      expect(existsSync(db)).toBe(false);
      expect(existsSync(path.join(ws.dir, 'repo'))).toBe(false);
    });
  }

  it('an empty source disk is the same failure to come as in a run (one check serves both)', async () => {
    const empty = path.join(ws.dir, 'empty.img');
    writeFileSync(empty, '');
    const plan = writePlan(ws.dir, {
      name: 'empty',
      vm: 'vm1',
      disks: [{ key: 2000, path: empty, format: 'raw' }],
      repository: path.join(ws.dir, 'repo'),
      ports,
    });
    const db = path.join(ws.dir, 'state.db');
    const dry = await sendenseRun([plan, '--dry-run', '--db', db]);
    const resolve = dry.stdout.split('\n').find((line) => line.includes('resolve-chain'));
    expect(resolve).toContain('would FAIL');
    expect(resolve).toContain(`${empty} is empty (virtual size 0 bytes)`);
    expect(dry.exitCode).toBe(1);
    const run = await sendenseRun([plan, '--db', db]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`${empty} is empty (virtual size 0 bytes)`);
  });

  it('a raw-only VM: snapshot-source adds no bitmap', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.img'), 8 * MiB, 'raw');
    const plan = writePlan(ws.dir, {
      name: 'raw-only',
      kind: 'backup',
      vm: 'vm1',
      disks: [{ key: 2000, path: disk, format: 'raw' }],
      repository: path.join(ws.dir, 'repo'),
      ports,
    });
    const result = await sendenseRun([plan, '--dry-run', '--db', path.join(ws.dir, 'state.db')]);
    expect(result.exitCode, result.stderr).toBe(0);
    const snapshot = result.stdout.split('\n').find((line) => line.includes('snapshot-source'));
    expect(snapshot).toContain('nothing (raw disks and qcow2 v2 images have no bitmaps)');
  });
});
