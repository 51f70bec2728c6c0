// `npm run campaign` stopped by SIGTERM (a `timeout`, a CI cancel, systemd) or SIGHUP (a closed
// terminal) ends as on Ctrl+C (bench/README.md "campaign"): the figures so far printed, ending with
// its summary line, its workspace's ext4 image no longer loop-mounted, the workspace gone, and the
// signal's exit code.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { DEADLINE_UNDER_LOAD_MS } from '../support/processes.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

// Loop mounts need root: without it the campaign keeps its repository in a plain directory.
const AS_ROOT = process.getuid?.() === 0;
// At most 27 bytes (the campaign refuses longer: its runs' socket paths): /var/tmp/cs-XXXXXX/cXXXXXX.
const tmp = mkdtempSync('/var/tmp/cs-');
const [first, last] = portRangeForTestFile(10);

afterAll(() => {
  // What a campaign that did not clean up left mounted (its loop device goes with the mount).
  for (const point of mountsUnder(tmp)) spawnSync('umount', ['-l', point]);
  rmSync(tmp, { recursive: true, force: true });
});

// The mount points of this mount namespace under `dir`.
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point) => point !== undefined && point.startsWith(`${dir}/`));
}

// The campaign's workspace once it is whole (its plan written), else undefined.
function madeWorkspace(dir: string): string | undefined {
  const name = readdirSync(dir).find((entry) => existsSync(path.join(dir, entry, 'backup.yaml')));
  return name === undefined ? undefined : path.join(dir, name);
}

// The files backing a loop device now (a deleted one says so after its name).
function loopBackFiles(): string {
  return spawnSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' }).stdout;
}

it.each([
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const)(
  'a campaign stopped by %s prints its summary, unmounts its image and exits %i',
  async (signal, code) => {
    // A directory of this case's own: nothing another case left is taken for its workspace.
    const dir = mkdtempSync(path.join(tmp, 'c'));
    const child = spawn(
      process.execPath,
      ['bench/campaign/main.js', '--faults', '1000', '--seed', '20261127', '--ports', `${first}-${last}`, '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAMPAIGN_TMPDIR: dir } },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
    let ended = false;
    void exited.then(() => (ended = true));
    try {
      // Until its workspace is made: its plan is written after its image is mounted (as root).
      const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
      let workspace = madeWorkspace(dir);
      while (workspace === undefined && !ended && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        workspace = madeWorkspace(dir);
      }
      expect(workspace, `no workspace under ${dir} within ${DEADLINE_UNDER_LOAD_MS} ms:\n${out}`).toBeDefined();
      const image = path.join(workspace!, 'fs.img');
      if (AS_ROOT) {
        expect(mountsUnder(dir)).toEqual([path.join(workspace!, 'fs')]);
        expect(loopBackFiles()).toContain(image);
      }

      child.kill(signal);
      expect(await exited, out).toBe(code);
      expect(out).toContain(`(interrupted: ${signal})`);
      expect(out.trim().split('\n').at(-1)).toMatch(
        /^campaign: \d+ faults, \d+ operations, \d+ points compared, \d+ violations$/,
      );
      expect(mountsUnder(dir)).toEqual([]);
      expect(loopBackFiles()).not.toContain(image);
      expect(existsSync(workspace!)).toBe(false);
    } finally {
      if (!ended) child.kill('SIGKILL');
    }
  },
  180_000,
);
