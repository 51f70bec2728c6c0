// `sendense-run PLAN --dry-run`: says full or incremental (and on what) correctly, and changes
// nothing: no state database created, sources, bitmaps, repository and history untouched.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { bitmapNames, createDisk, mtimeMs, portRangeForTestFile, sha256, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-dry-');

function snapshotOf(files: readonly string[]) {
  return files.map((file) => ({ file, mtime: mtimeMs(file), bitmaps: bitmapNames(file) }));
}

describe('--dry-run', () => {
  it('prints full, then incremental on the right parent, and changes nothing', async () => {
    const disks = [2000, 2001].map((key) => {
      const file = createDisk(path.join(ws.dir, `disk-${key}.qcow2`), 32 * MiB);
      writeDisk(file, ['write -P 0x71 0 2M']);
      return { key, path: file };
    });
    const plan = writePlan(ws.dir, { name: 'dry', vm: 'dryvm', disks, repository: ws.repository, ports });
    const sources = disks.map((disk) => disk.path);

    // No state yet: a full; the database is not even created.
    const before = snapshotOf(sources);
    const first = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/resolve-chain\s+full backup into a new chain/);
    expect(first.stdout).toContain(`${ports[0]}-${ports[1]}`);
    expect(existsSync(ws.db)).toBe(false);
    expect(existsSync(ws.repository)).toBe(false);
    expect(snapshotOf(sources)).toEqual(before);

    const run = await sendenseRun([plan, '--db', ws.db]);
    expect(run.exitCode, run.stderr).toBe(0);
    const [full] = await listBackups(ws.db);
    writeDisk(disks[0].path, ['write -P 0x72 1M 1M']);

    // After a full: an incremental on it, reading the full's bitmap, overlays on its files.
    const state = {
      sources: snapshotOf(sources),
      db: sha256(ws.db),
      repo: readdirSync(ws.repository, { recursive: true }).sort(),
    };
    const history = await sendenseRun(['history', '--json', '--db', ws.db]);
    const second = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`resolve-chain\\s+incremental on backup ${full.id}`));
    for (const disk of full.disks) {
      expect(second.stdout).toContain(`overlay on ${disk.file}`);
      expect(second.stdout).toContain(`dirty bitmap ${disk.changeId}`);
    }
    expect(snapshotOf(sources)).toEqual(state.sources);
    expect(sha256(ws.db)).toBe(state.db);
    expect(readdirSync(ws.repository, { recursive: true }).sort()).toEqual(state.repo);
    expect((await sendenseRun(['history', '--json', '--db', ws.db])).stdout).toBe(history.stdout);

    // The bitmap it needs is gone: the dry run says the real run would take a full, and why.
    execFileSync('qemu-img', [
      'bitmap',
      '--remove',
      disks[1].path,
      full.disks.find((d) => d.diskKey === 2001)!.changeId!,
    ]);
    const third = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(third.stdout).toMatch(
      /full backup into a new chain: the dirty bitmap '.*' of backup .* is missing from .*disk-2001\.qcow2/,
    );
  });
});
