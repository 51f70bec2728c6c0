// The fast path's export of a point is the reader's alone (docs/file-level-restore.md#the-fast-path):
// run as root, while debugfs lists a real ext4 (mkfs.ext4 -d on a GPT disk) over the point's
// qemu-nbd and nbdfuse, no other local user — `nobody`, which other daemons run as, nor any other
// uid — can enter its directory, connect to its NBD socket or open the disk file nbdfuse shows.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ExtReader } from '../../src/files/fast/ext-reader.js';
import { openPointExport } from '../../src/files/fast/point-export.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { makeGptExt4Disk, PART1_START } from './guest-disk.js';

const ws = useRunWorkspace('files-fast-private-', { per: 'file' });
const OTHER_UIDS = [65534, 4242];

// One try by `uid` to read `what`: the exit code and what it said.
function asUser(uid: number, argv: readonly string[]): { readonly code: number | null; readonly said: string } {
  const run = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...argv], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, said: `${run.stdout}${run.stderr}` };
}

it.runIf(process.getuid?.() === 0)(
  "keeps the point's socket, disk file and partition file from every other uid while a listing runs",
  async () => {
    const root = path.join(ws.dir, 'tree');
    mkdirSync(root);
    writeFileSync(path.join(root, 'secret.txt'), 'the guest secret\n');
    const raw = path.join(ws.dir, 'disk.raw');
    makeGptExt4Disk(raw, root);
    const qcow2 = path.join(ws.dir, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    execFileSync('chmod', ['a+rx', ws.dir]);

    const exported = await openPointExport(qcow2);
    try {
      const diskFile = await exported.diskFile();
      const reader = new ExtReader(diskFile, PART1_START * 512, 'p1 of a test disk', () => exported.sandbox());
      expect((await reader.list('/')).map((entry) => entry.name)).toContain('secret.txt');

      // The reader's uid is its own: no account has it, and no process but the point's readers.
      expect(exported.sandbox().user).toBeDefined();
      expect(OTHER_UIDS).not.toContain(exported.sandbox().user!.uid);
      expect(spawnSync('getent', ['passwd', String(exported.sandbox().user!.uid)]).status).not.toBe(0);

      // A partition shown as a file of its own (for ntfs-3g's tools): it starts at the partition.
      const partitionFile = await exported.partitionFile(PART1_START * 512, 40 * 1024 * 1024);
      const partitionReader = new ExtReader(partitionFile, 0, 'p1 alone', () => exported.sandbox());
      expect((await partitionReader.list('/')).map((entry) => entry.name)).toContain('secret.txt');
      // Both files exist in the readers' mount namespace only: not even root sees them here.
      expect(existsSync(diskFile)).toBe(false);
      expect(existsSync(partitionFile)).toBe(false);

      const dir = path.dirname(path.dirname(diskFile));
      const socket = path.join(dir, 'nbd.sock');
      const url = `nbd+unix:///point?socket=${socket}`;
      for (const uid of OTHER_UIDS) {
        const listed = asUser(uid, ['ls', dir]);
        expect(listed.code, `uid ${uid} listed ${dir}: ${listed.said}`).not.toBe(0);
        expect(listed.said).toMatch(/Permission denied/);
        for (const file of [diskFile, partitionFile]) {
          const opened = asUser(uid, ['head', '-c', '4096', file]);
          expect(opened.code, `uid ${uid} read ${file}: ${opened.said}`).not.toBe(0);
          expect(opened.said).toMatch(/Permission denied/);
        }
        const connected = asUser(uid, ['qemu-img', 'info', '--output=json', url]);
        expect(connected.code, `uid ${uid} opened the export: ${connected.said}`).not.toBe(0);
        expect(connected.said).not.toMatch(/"virtual-size"/);
      }
      // And still the listing reads on: the point's reader was not disturbed.
      expect((await reader.list('/')).map((entry) => entry.name)).toContain('secret.txt');
    } finally {
      await exported.close();
    }
  },
  300_000,
);
