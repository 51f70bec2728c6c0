// Restore plans with `target: { type: files, paths, to }` run by the real CLI on this host: the
// files of the chosen point land in the directory as the test wrote them, the run is recorded,
// the appliance is stopped and forgotten, and mistakes are refused before anything starts.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { startSshd } from '../support/sshd.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runStatuses } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  backUpGuest,
  readTree,
  repositoryFingerprint,
  sendenseFiles,
  subTree,
  type BackedUpGuest,
} from './guest-disk.js';

const ws = useRunWorkspace('files-restore-plan-', { per: 'file' });
let guest: BackedUpGuest;
const ports = portRangeForTestFile(10);

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'rfvm', ports);
}, 600_000);

function writeFilesPlan(name: string, restore: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  const doc = {
    version: 1,
    kind: 'restore',
    name,
    vm: { name: guest.vm },
    repository: { path: guest.repository },
    restore,
    ...extra,
  };
  writeFileSync(file, stringify(doc));
  return file;
}

describe('restore plan with a files target', () => {
  it('extracts the paths of the chosen point into a directory, records the run and leaves no process', async () => {
    const before = repositoryFingerprint(guest.repository);
    const to = path.join(ws.dir, 'restored-files');
    const plan = writeFilesPlan('files-point1', {
      point: guest.backups[0].id,
      disks: [2000],
      target: { type: 'files', paths: ['p1:/etc', 'p1:/dir with space', 'p1:/to-delete.txt'], to },
    });
    const result = await sendenseFiles([plan, '--db', guest.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const tree = guest.trees[0];
    expect(readTree(to)).toEqual({
      ...subTree(tree, 'etc'),
      ...subTree(tree, 'dir with space'),
      ...subTree(tree, 'to-delete.txt'),
    });
    expect((await runStatuses(guest.db))[0]).toBe('succeeded');
    expect(recordedProcesses(guest.db)).toEqual([]);
    expect(repositoryFingerprint(guest.repository)).toEqual(before);
  }, 600_000);

  it('shows its two steps in --dry-run', async () => {
    const plan = writeFilesPlan('files-dry', {
      target: { type: 'files', paths: ['p1:/etc'], to: path.join(ws.dir, 'dry') },
    });
    const result = await sendenseFiles([plan, '--dry-run', '--db', guest.db]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/resolve-point\s+point latest of VM rfvm/);
    expect(result.stdout).toMatch(
      /extract-files\s+p1:\/etc into .*dry, read through a libguestfs appliance on this host/,
    );
  });

  it('extracts on a node reached over SSH: the hub reads, the files land on the node as they were', async () => {
    const sshd = await startSshd();
    try {
      const to = path.join(ws.dir, 'on-the-node');
      const node = {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        knownHosts: sshd.knownHosts,
      };
      const plan = writeFilesPlan(
        'files-node',
        { point: 'latest', target: { type: 'files', paths: ['p1:/etc', 'p1:/hosts-link'], to } },
        { node, nbd: { ports: ports.join('-') } },
      );
      const result = await sendenseFiles([plan, '--db', guest.db]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      const tree = guest.trees[1];
      expect(readTree(to)).toEqual({ ...subTree(tree, 'etc'), ...subTree(tree, 'hosts-link') });
      expect(recordedProcesses(guest.db)).toEqual([]);
      expect(leasedPorts(guest.db)).toEqual([]);
      // Refused on the node, before the appliance starts, when the destination is used.
      const again = await sendenseFiles([plan, '--db', guest.db]);
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toMatch(/extract-files: on .*: .*on-the-node is not empty/);
    } finally {
      await sshd.stop();
    }
  }, 600_000);

  it('refuses a plan that names two disks, a relative destination or a path without NAME:', async () => {
    const target = { type: 'files', paths: ['p1:/etc'], to: path.join(ws.dir, 'never') };
    const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
      [{ disks: [2000, 2001], target }, {}, /restore\.disks: a files target reads one disk/],
      [{ target: { ...target, to: 'relative/dir' } }, {}, /restore\.target\.to: must be an absolute path/],
      [{ target: { ...target, paths: ['/etc'] } }, {}, /must be NAME:\/PATH/],
    ];
    for (const [index, [restore, extra, message]] of cases.entries()) {
      const result = await sendenseFiles(['validate', writeFilesPlan(`bad-${index}`, restore, extra)]);
      expect(result.exitCode, `${message}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(`${result.stdout}${result.stderr}`).toMatch(message);
    }
  });

  it('refuses a destination that is not empty, in one line, and leaves it as it was', async () => {
    const used = path.join(ws.dir, 'used');
    mkdirSync(used);
    writeFileSync(path.join(used, 'mine.txt'), 'mine');
    const plan = writeFilesPlan('files-used', { target: { type: 'files', paths: ['p1:/etc'], to: used } });
    const result = await sendenseFiles([plan, '--db', guest.db]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/extract-files.*used is not empty: .*--overwrite/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(readTree(used)).toEqual({ 'mine.txt': expect.objectContaining({ type: 'file' }) });
  });
});
