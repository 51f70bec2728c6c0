// backups / history / doctor on every kind of state file a user may point them at: new, missing
// (even its directory), corrupt, not writable; common options before or after the command,
// $SENDENSE_DB and the per-user default.

import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { asNobody, useBinForOtherUsers } from '../support/other-user-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const COMMANDS = ['backups', 'history', 'doctor'] as const;
const ws = useRunWorkspace('cli-state-');
const packageCopy = useBinForOtherUsers();

function cli(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [BIN, ...args], {
    reject: false,
    cwd: options.cwd ?? ws.dir,
    env: { CI: '1', PATH: process.env.PATH ?? '', ...options.env },
    extendEnv: false,
  });
}

// One small backup recorded in db, so the listings have something to show.
async function oneBackup(db: string): Promise<void> {
  const disk = path.join(ws.dir, 'disk0.qcow2');
  if (!existsSync(disk)) createDisk(disk, 8 * 1024 * 1024);
  const plan = writePlan(ws.dir, {
    name: 'state-vm',
    vm: 'state-vm',
    disks: [{ key: 2000, path: disk }],
    repository: path.join(ws.dir, 'repo'),
    ports: portRangeForTestFile(),
  });
  const run = await sendenseRun([plan, '--db', db]);
  expect(run.exitCode, run.stderr).toBe(0);
}

describe('state commands', () => {
  it('on a path with no database (not even its directory) say so, exit 0, and create nothing', async () => {
    const db = path.join(ws.dir, 'missing-dir', 'state.db');
    for (const command of COMMANDS) {
      const human = await cli([command, '--db', db]);
      expect(human.exitCode).toBe(0);
      expect(human.stdout).toBe(
        `no state database at ${db}: nothing has run with it yet (give --db or $SENDENSE_DB to use another)`,
      );
      const json = await cli(['--json', command, '--db', db]);
      expect(json.exitCode).toBe(0);
      expect(json.stdout).toBe('');
      expect(json.stderr).toContain(`no state database at ${db}`);
    }
    expect(existsSync(path.join(ws.dir, 'missing-dir'))).toBe(false);
  });

  it('on a new, empty database they say there is nothing yet', async () => {
    const db = path.join(ws.dir, 'new.db');
    writeFileSync(db, '');
    const outputs = await Promise.all(COMMANDS.map((command) => cli([command, '--db', db])));
    expect(outputs.map((output) => [output.exitCode, output.stdout, output.stderr])).toEqual([
      [0, 'no backups yet', ''],
      [0, 'no runs yet', ''],
      [0, 'doctor: nothing left behind', ''],
    ]);
  });

  it('on a file that is not a database: one line naming it, exit 1, no stack', async () => {
    const db = path.join(ws.dir, 'notes.db');
    writeFileSync(db, 'these are my notes, not a database\n'.repeat(200));
    for (const command of COMMANDS) {
      const result = await cli([command, '--db', db]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toBe(`sendense-run: cannot open state database ${db}: file is not a database`);
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'on a database this user may not write to: one line naming it, exit 1',
    async () => {
      const db = path.join(ws.dir, 'root.db');
      await oneBackup(db);
      chmodSync(ws.dir, 0o755);
      const runAsNobody = (command: string) =>
        execa('setpriv', asNobody([process.execPath, packageCopy.bin, command, '--db', db]), {
          reject: false,
          env: { CI: '1' },
          cwd: '/',
        });
      for (const command of COMMANDS) {
        const result = await runAsNobody(command);
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toMatch(new RegExp(`^sendense-run: cannot open state database ${db}: [^\\n]+$`));
      }
    },
  );

  it('take --db/--json/--quiet before or after the command; --db beats $SENDENSE_DB beats the per-user default', async () => {
    const db = path.join(ws.dir, 'explicit.db');
    await oneBackup(db);
    const before = await cli(['--json', '--db', db, '--quiet', 'history']);
    const after = await cli(['history', '--quiet', '--db', db, '--json']);
    expect(before.stdout).toBe(after.stdout);
    expect(JSON.parse(before.stdout)).toMatchObject({ plan: 'state-vm', status: 'succeeded' });

    expect((await cli(['backups', '--json'], { env: { SENDENSE_DB: db } })).stdout).toContain('"vm":"state-vm"');
    expect(
      (await cli(['backups', '--json', '--db', path.join(ws.dir, 'other.db')], { env: { SENDENSE_DB: db } })).stdout,
    ).toBe('');

    const cwd = path.join(ws.dir, 'cwd');
    mkdirSync(cwd);
    const local = await cli(['history'], { cwd, env: { XDG_STATE_HOME: path.join(ws.dir, 'xdg') } });
    expect(local.exitCode, local.stderr).toBe(0);
    if (process.getuid?.() === 0) {
      // root's default (/var/lib/sendense/sendense.db) may hold this machine's real runs (the demo's):
      // what matters is that it is not the database in the current directory or the test's.
      expect(local.stdout).not.toContain('state-vm');
    } else {
      const perUser = path.join(ws.dir, 'xdg', 'sendense', 'sendense.db');
      expect(local.stdout).toMatch(
        new RegExp(`^(no state database at ${perUser}: nothing has run with it yet|no runs yet)`),
      );
    }
    expect(existsSync(path.join(cwd, 'sendense.db'))).toBe(false);
  });

  it('history records the plan file as an absolute path when the run was given a relative one', async () => {
    const db = path.join(ws.dir, 'relative.db');
    await oneBackup(db);
    const again = await cli(['state-vm.yaml', '--db', db], { cwd: ws.dir });
    expect(again.exitCode, again.stderr).toBe(0);
    const [newest] = (await cli(['history', '--json', '--db', db], { cwd: '/' })).stdout.split('\n');
    expect(JSON.parse(newest)).toMatchObject({ planFile: path.join(ws.dir, 'state-vm.yaml'), status: 'succeeded' });
  });

  it('--json gives one JSON object per line for backups and history', async () => {
    const db = path.join(ws.dir, 'json.db');
    await oneBackup(db);
    await oneBackup(db);
    for (const command of ['backups', 'history']) {
      const lines = (await cli([command, '--json', '--db', db])).stdout.split('\n');
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(JSON.parse(line)).toBeTypeOf('object');
    }
  });
});
