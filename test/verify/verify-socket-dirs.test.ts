// verify reads an encrypted repository's layers through a read-only qemu-nbd on a socket in a
// private directory of the temp dir (sendense-verify-*). A verify stopped by kill -9 leaves that
// directory, empty once doctor has stopped its qemu-nbd (found by the fault campaign, encrypted
// mode); the next verify removes those whose maker (the PID in the name) is gone, however fresh,
// and never one whose maker runs, however old (docs/how-it-works.md#socket-directories: a clock
// set forward once made a concurrent run's fresh directory look old). An untagged one (an older
// version's) goes once a minute old. One holding a file stays.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('verify-dirs-');
const [first, last] = portRangeForTestFile();
const planted: string[] = [];
afterEach(() => {
  for (const dir of planted.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// A PID no process has now: one of a process that has ended.
function endedPid(): number {
  return Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
}

function plant(age: 'old' | 'fresh', content?: string, maker?: number): string {
  const tag = maker === undefined ? '' : `${maker.toString(36)}.`;
  const dir = mkdtempSync(path.join(tmpdir(), `sendense-verify-${tag}`));
  planted.push(dir);
  if (content !== undefined) writeFileSync(path.join(dir, 'notes.txt'), content);
  if (age === 'old') utimesSync(dir, new Date(Date.now() - 300_000), new Date(Date.now() - 300_000));
  return dir;
}

describe('verify socket directories left by a kill -9', () => {
  it(
    'the next verify removes the empty ones whose maker is gone (or untagged and a minute old), nothing else',
    { timeout: 120_000 },
    async () => {
      const keyFile = path.join(ws.dir, 'repository.key');
      writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      const source = createDisk(path.join(ws.dir, 'source.qcow2'), 16 * 1024 * 1024);
      writeDisk(source, ['write -P 0x41 0 1M', 'write -P 0x42 8M 512k']);
      const plan = path.join(ws.dir, 'backup.yaml');
      writeFileSync(
        plan,
        stringify({
          version: 1,
          kind: 'backup',
          name: 'verify-dirs',
          vm: { name: 'dirvm', source: { type: 'qemu', disks: [{ key: 1, path: source }] } },
          repository: { path: ws.repository, encryption: { keyFile } },
          nbd: { ports: `${first}-${last}` },
        }),
      );
      const backup = await sendenseRun([plan, '--db', ws.db]);
      expect(backup.exitCode, `${backup.stdout}\n${backup.stderr}`).toBe(0);

      const stale = [plant('old'), plant('old')];
      const busy = plant('old', 'not a socket');
      const fresh = plant('fresh');
      const makerGone = plant('fresh', undefined, endedPid());
      const makerRuns = plant('old', undefined, process.pid);
      const verify = await sendenseRun(['verify', '--key-file', keyFile, '--db', ws.db]);
      expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(0);
      expect(verify.stdout).toContain('no damage found');

      expect(stale.map((dir) => existsSync(dir))).toEqual([false, false]);
      expect([existsSync(busy), existsSync(fresh)]).toEqual([true, true]);
      expect(existsSync(makerGone)).toBe(false);
      expect(existsSync(makerRuns)).toBe(true);
    },
  );
});
