// A copy in a directory of this host (docs/copies.md#a-copy-on-this-host), through the real CLI: no
// SSH, the points sent once, copy.retention merging there by this host's qemu-img, and every point
// left restoring exactly from the copy alone; a path inside the repository is refused in one line.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { backUpPoints } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { copyPoints, expectCopyExact, sorted } from './copy-retention-checks.js';
import { filesUnder, rows, runCopy } from './copy-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-dir-copy-');

function writeDirPlan(to: string, retention?: Record<string, number>): string {
  const file = path.join(ws.dir, 'second-disk.yaml');
  const copy = { to: { type: 'dir', path: to }, ...(retention && { retention }) };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'copy',
      name: 'second-disk',
      vm: { name: 'vmd' },
      repository: { path: ws.repository },
      copy,
    }),
  );
  return file;
}

describe('a copy in a directory of this host', () => {
  it('sends each point once, merges what copy.retention does not keep there, and every point left is exact', async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3, 'vmd');
    const offsite = path.join(ws.dir, 'second-disk');
    const plan = writeDirPlan(offsite, { keepLast: 2 });
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 3, pointsThere: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(1)));
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 0, pointsThere: 2, bytes: 0 });
    expect(filesUnder(offsite).filter((file) => /\.partial$|\.merge$|\.sendense-merge$/.test(file))).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
    await expectCopyExact(ws.dir, ports, chain, offsite, 'dir');

    const inside = await sendenseRun([writeDirPlan(path.join(ws.repository, 'copy')), '--db', ws.db]);
    expect(inside.exitCode).toBe(2);
    expect(inside.stderr).toMatch(
      /copy\.to\.path: .* on this host is the repository .* or inside it; a copy needs a directory of its own/,
    );
  }, 600_000);
});
