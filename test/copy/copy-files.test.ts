// `sendense-run files` straight from a copy (docs/copies.md#using-a-copy): a real GPT + ext4 guest
// disk backed up at two points, copied over SSH with copy.retention keeping only the newest (so
// the copy's point is a merge done on the copy's host), imported into a database of its own, then
// a folder and a file of that point extracted from the copy alone and compared with what the
// guest held then.

import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { backUpGuest, readTree, sendenseFiles, subTree, type BackedUpGuest } from '../files/guest-disk.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { filesUnder, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';

const ws = useRunWorkspace('sendense-copy-files-', { per: 'file' });
const node = useCopySshd();
let guest: BackedUpGuest;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'cfvm', portRangeForTestFile(10));
}, 600_000);

describe('files from a copy', () => {
  it('extracts a folder and a file of the copy\u2019s point, merged on the copy, as the guest held them', async () => {
    const offsite = path.join(ws.dir, 'offsite');
    const plan = writeCopyPlan(ws.dir, node.sshd, {
      repository: guest.repository,
      to: offsite,
      vm: guest.vm,
      retention: { keepLast: 1 },
    });
    expect(await runCopy(plan, guest.db)).toMatchObject({ pointsSent: 2 });
    const newest = guest.backups[1]!.id;
    expect(filesUnder(offsite).filter((file) => file.endsWith('.json'))).toEqual([
      `${guest.vm}/disk-2000/${newest}.json`,
    ]);

    const copyDb = path.join(ws.dir, 'copy.db');
    const imported = await sendenseRun(['catalog', 'import', offsite, '--db', copyDb]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    const to = path.join(ws.dir, 'from-copy');
    const result = await sendenseFiles([
      'files',
      guest.vm,
      '--db',
      copyDb,
      '--point',
      newest,
      '--get',
      'p1:/etc',
      'p1:/new file.txt',
      '--to',
      to,
    ]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    // The wait is said before it starts, and how long it took after.
    expect(result.stderr).toMatch(
      /starting the libguestfs appliance \((software emulation|KVM)[^)]*\)\n(.*\n)*appliance ready in [\d.]+ s\n/,
    );
    const tree = guest.trees[1]!;
    expect(readTree(to)).toEqual({ ...subTree(tree, 'etc'), ...subTree(tree, 'new file.txt') });
  }, 600_000);
});
