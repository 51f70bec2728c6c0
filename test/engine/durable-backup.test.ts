// A backup is on disk before it is recorded complete (docs/how-it-works.md#the-data-path). The
// hub's qemu-nbd writes a new backup file through the page cache, without qcow2's ordering
// flushes, so the run must sync the file itself. A real run under strace: after the last write to
// each new file, by any process, comes an fsync of that file, and only then its manifest, which
// makes the backup complete. Both a full and an incremental are checked, and each point equals
// the source.

import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN, listBackups, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('durable-backup-');

// The syscalls that change a file's bytes, and those that put them on disk.
const WRITES = ['pwrite64', 'pwritev', 'pwritev2', 'write', 'writev', 'fallocate', 'ftruncate', 'copy_file_range'];
const SYNCS = ['fsync', 'fdatasync', 'sync_file_range', 'syncfs'];
const RENAMES = ['rename', 'renameat', 'renameat2'];

// One backup run under `strace -f -y` (file descriptors shown with their paths); its trace lines.
async function tracedRun(plan: string, trace: string): Promise<string[]> {
  const result = await execa(
    'strace',
    [
      '-f',
      '-qq',
      '-y',
      '-s',
      '0',
      '--seccomp-bpf',
      '-e',
      `trace=${[...WRITES, ...SYNCS, ...RENAMES].join(',')}`,
      '-o',
      trace,
      process.execPath,
      BIN,
      plan,
      '--db',
      ws.db,
    ],
    { reject: false, env: { CI: '1' }, timeout: 110_000 },
  );
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return readFileSync(trace, 'utf8').split('\n');
}

// Where in the trace the file was last written, first synced after that, and its manifest renamed into place.
function order(lines: readonly string[], file: string): { lastWrite: number; syncAfter: number; manifest: number } {
  const call = (line: string) => /^\d+\s+([a-z0-9_]+)\(/.exec(line)?.[1] ?? '';
  const onFile = (line: string) => line.includes(`<${file}>`);
  let lastWrite = -1;
  lines.forEach((line, index) => {
    if (WRITES.includes(call(line)) && onFile(line)) lastWrite = index;
  });
  const syncAfter = lines.findIndex(
    (line, index) => index > lastWrite && SYNCS.includes(call(line)) && onFile(line) && !line.includes('= -1'),
  );
  const json = file.replace(/\.qcow2$/, '.json');
  const manifest = lines.findIndex(
    (line) => RENAMES.includes(call(line)) && line.includes(`"${json}"`) && !line.includes('= -1'),
  );
  return { lastWrite, syncAfter, manifest };
}

describe('a backup is on disk before it is complete', () => {
  it('every new file is synced after its last write and before its manifest, full and incremental (strace, real run)', async () => {
    const disks = [
      { key: 2000, path: createDisk(path.join(ws.dir, 'disk0.qcow2'), 48 * MiB) },
      { key: 2001, path: createDisk(path.join(ws.dir, 'disk1.qcow2'), 16 * MiB) },
    ];
    writeDisk(disks[0].path, ['write -P 0x41 0 12M', 'write -P 0x42 30M 5M']);
    writeDisk(disks[1].path, ['write -P 0x51 1M 3M']);
    const plan = writePlan(ws.dir, { name: 'durable', vm: 'durable-vm', disks, repository: ws.repository, ports });

    const points: Record<number, string>[] = [];
    for (const round of [0, 1]) {
      if (round === 1) writeDisk(disks[0].path, ['write -P 0x43 4M 2M', 'write -z 31M 1M']);
      points.push(
        Object.fromEntries(
          disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `point${round}-${disk.key}.qcow2`))]),
        ),
      );
      const lines = await tracedRun(plan, path.join(ws.dir, `trace-${round}.txt`));
      const backup = (await listBackups(ws.db)).at(-1)!;
      expect(backup.type).toBe(round === 0 ? 'full' : 'incremental');
      for (const disk of backup.disks) {
        const at = order(lines, disk.file);
        expect(at.lastWrite, `writes to ${disk.file} in the trace`).toBeGreaterThanOrEqual(0);
        expect(at.syncAfter, `an fsync of ${disk.file} after its last write`).toBeGreaterThan(at.lastWrite);
        expect(at.manifest, `the manifest of ${disk.file} renamed into place after that fsync`).toBeGreaterThan(
          at.syncAfter,
        );
      }
    }

    // Each point, read through its chain, is the source as it was.
    const backups = await listBackups(ws.db);
    backups.forEach((backup, round) => {
      for (const disk of backup.disks) expect(differenceBetween(disk.file, points[round][disk.diskKey])).toBe('');
    });
  });
});
