// The fast path on big folders (docs/file-level-restore.md#the-fast-path): one GPT disk whose p1
// is an ext4 made by mkfs.ext4 -d from 10,000 small files (6,000 in one folder, 4,000 in 40
// folders of 100) and whose p2 is an NTFS holding a folder of 2,000, backed up with the real CLI.
// Each big folder is listed both ways, the fast path (`files --no-session`) and the appliance (one
// for the point, shared: ./shared-appliance.ts), and the entries compared field by field.

import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { jsonLines, repositoryFingerprint, sendenseFiles } from './guest-disk.js';
import { ntfsImage, writeInto } from './multi-fs-disk.js';
import { sharedFiles } from './shared-appliance.js';

const ws = useRunWorkspace('files-fast-many-', { per: 'file' });
const BOOT = 600_000;
const SECTOR = 512;
const EXT4 = { start: 2048, mib: 96 };
const NTFS = { start: 2048 + 96 * 2048, mib: 32 };
const T0 = Date.UTC(2023, 4, 5, 6, 7, 8) / 1000;
let db = '';
let before: Record<string, string> = {};

// `count` small files named `prefix`NNNNN.txt in `dir`, each with a time of its own.
function smallFiles(dir: string, prefix: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `${prefix}${String(i).padStart(5, '0')}.txt`);
    writeFileSync(file, `${prefix} ${i}\n`);
    utimesSync(file, T0 + i, T0 + i * 3);
  }
}

beforeAll(async () => {
  const extTree = path.join(ws.dir, 'ext-tree');
  smallFiles(path.join(extTree, 'flat'), 'f', 6000);
  for (let d = 0; d < 40; d++) smallFiles(path.join(extTree, 'nested', `d${String(d).padStart(2, '0')}`), 'n', 100);
  const ntfsTree = path.join(ws.dir, 'ntfs-tree');
  smallFiles(path.join(ntfsTree, 'many'), 'w', 2000);
  const scratch = path.join(ws.dir, 'scratch');
  mkdirSync(scratch);
  const raw = path.join(ws.dir, 'many.raw');
  execFileSync('truncate', ['-s', String((2048 + (EXT4.mib + NTFS.mib) * 2048 + 2048) * SECTOR), raw]);
  execFileSync(
    'sgdisk',
    ['-n', `1:${EXT4.start}:+${EXT4.mib}M`, '-t', '1:8300', '-n', `2:${NTFS.start}:+${NTFS.mib}M`, '-t', '2:0700', raw],
    { stdio: 'ignore' },
  );
  execFileSync('mkfs.ext4', [
    '-q',
    '-F',
    '-N',
    '12000',
    '-d',
    extTree,
    '-E',
    `offset=${EXT4.start * SECTOR},nodiscard`,
    raw,
    `${EXT4.mib}M`,
  ]);
  writeInto(raw, NTFS.start, ntfsImage(ntfsTree, scratch, NTFS));
  const source = path.join(ws.dir, 'manyvm-2000.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
  db = path.join(ws.dir, 'state.db');
  const plan = writePlan(ws.dir, {
    name: 'manyvm-backup',
    kind: 'backup',
    vm: 'manyvm',
    disks: [{ key: 2000, path: source }],
    repository: ws.repository,
    ports: portRangeForTestFile(10),
  });
  const result = await sendenseRun([plan, '--db', db]);
  if (result.exitCode !== 0) throw new Error(`backup failed:\n${result.stdout}\n${result.stderr}`);
  before = repositoryFingerprint(ws.repository);
}, 600_000);

const shared = sharedFiles(() => db);
afterAll(async () => {
  await shared.close();
  if (db) expect(repositoryFingerprint(ws.repository)).toEqual(before);
});

interface ListedLine {
  readonly name: string;
  readonly reader?: string;
  readonly [field: string]: unknown;
}

const facts = (stdout: string) => jsonLines<ListedLine>(stdout).map(({ reader: _reader, ...entry }) => entry);

const LISTED: readonly [string, string, number][] = [
  ['p1:/flat', 'debugfs', 6000],
  ['p1:/nested', 'debugfs', 40],
  ['p1:/nested/d39', 'debugfs', 100],
  ['p2:/many', 'ntfs-3g', 2000],
];

describe('10,000 files on ext4 and 2,000 in one NTFS folder', () => {
  it(
    'lists each big folder by the fast path, no appliance, exactly as the appliance lists it',
    async () => {
      for (const [where, reader, count] of LISTED) {
        const fast = await sendenseFiles(['files', 'manyvm', '--db', db, '--no-session', '--json', where]);
        expect(fast.exitCode, `${where}: ${fast.stderr}`).toBe(0);
        const lines = jsonLines<ListedLine>(fast.stdout);
        expect(lines.length, where).toBe(count);
        expect(new Set(lines.map((line) => line.reader)), where).toEqual(new Set([reader]));
        expect(fast.stderr, where).not.toMatch(/libguestfs|appliance started|opening /);
        const slow = await shared.files(['manyvm', '--json', where]);
        expect(slow.exitCode, slow.stderr).toBe(0);
        expect(facts(fast.stdout), where).toEqual(facts(slow.stdout));
      }
    },
    BOOT,
  );
});
