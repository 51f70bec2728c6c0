// Where the state lives when no --db is given (docs/commands.md): $SENDENSE_DB, else one place per
// user, never the current directory — a run started from another directory must find the chain.

import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { defaultDbPath } from '../../src/store/default-db-path.js';
import { asNobody as nobodyArgv, useBinForOtherUsers } from '../support/other-user-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-default-db-');
// The checkout may be a directory nobody cannot enter (/root, mktemp -d).
const packageCopy = useBinForOtherUsers();
const NOBODY = 65534;

describe('the default state database', () => {
  it('is $SENDENSE_DB, else /var/lib/sendense for root, else under XDG_STATE_HOME or ~/.local/state', () => {
    expect(defaultDbPath({ SENDENSE_DB: '/srv/state.db' }, 0, '/root')).toBe('/srv/state.db');
    expect(defaultDbPath({}, 0, '/root')).toBe('/var/lib/sendense/sendense.db');
    expect(defaultDbPath({}, 1000, '/home/ops')).toBe('/home/ops/.local/state/sendense/sendense.db');
    expect(defaultDbPath({ XDG_STATE_HOME: '/home/ops/state' }, 1000, '/home/ops')).toBe(
      '/home/ops/state/sendense/sendense.db',
    );
    // A relative XDG_STATE_HOME is invalid (XDG base directory spec): ignored, not resolved against the current directory.
    expect(defaultDbPath({ XDG_STATE_HOME: 'state' }, 1000, '/home/ops')).toBe(
      '/home/ops/.local/state/sendense/sendense.db',
    );
  });

  it('a directory as --db is a usage error (exit 2) naming it', async () => {
    const result = await sendenseRun(['history', '--db', ws.dir]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      `sendense-run: state database ${ws.dir} is a directory: give a file in it (--db ${path.join(ws.dir, 'sendense.db')})`,
    );
  });

  it.skipIf(process.getuid?.() !== 0)(
    'a user running a plan from two directories gets one chain in ~/.local/state/sendense (0700)',
    async () => {
      // As an unprivileged user (nobody) with a home of its own; everything the run needs is theirs.
      chmodSync(ws.dir, 0o755);
      const home = path.join(ws.dir, 'home');
      const elsewhere = path.join(ws.dir, 'elsewhere');
      for (const dir of [home, elsewhere]) {
        mkdirSync(dir);
        chownSync(dir, NOBODY, NOBODY);
      }
      const disk = createDisk(path.join(home, 'disk0.qcow2'), 8 * 1024 * 1024);
      chownSync(disk, NOBODY, NOBODY);
      const plan = writePlan(home, {
        name: 'default-db',
        vm: 'default-db-vm',
        disks: [{ key: 2000, path: disk }],
        repository: path.join(home, 'repo'),
        ports: portRangeForTestFile(),
      });
      const asNobody = (args: readonly string[], cwd: string) =>
        execa('setpriv', nobodyArgv([process.execPath, packageCopy.bin, ...args]), {
          reject: false,
          cwd,
          env: { CI: '1', PATH: process.env.PATH ?? '', HOME: home },
          extendEnv: false,
        });

      const before = await asNobody(['history'], elsewhere);
      const db = path.join(home, '.local', 'state', 'sendense', 'sendense.db');
      expect(before.stdout).toBe(
        `no state database at ${db}: nothing has run with it yet (give --db or $SENDENSE_DB to use another)`,
      );

      const first = await asNobody([plan, '--json'], home);
      expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
      const second = await asNobody([plan, '--json'], elsewhere);
      expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(second.stdout).toMatch(/"summary":"backup \S+: incremental on/);

      expect(statSync(path.dirname(db)).mode & 0o777).toBe(0o700);
      const history = await asNobody(['history', '--json'], '/');
      expect(history.stdout.trim().split('\n')).toHaveLength(2);
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'a state another user made, or a folder this user may not enter, is one line saying so, never a stack',
    async () => {
      // Root's state, as the demo leaves it before the service's user runs: readable, not writable.
      chmodSync(ws.dir, 0o755);
      const made = await sendenseRun(['--db', ws.db, 'token', 'add', 'someone', '--role', 'audit']);
      expect(made.exitCode, made.stderr).toBe(0);
      chmodSync(ws.db, 0o644);
      const closed = path.join(ws.dir, 'closed');
      mkdirSync(closed, { mode: 0o700 });
      const asNobody = (args: readonly string[]) =>
        execa('setpriv', nobodyArgv([process.execPath, packageCopy.bin, ...args]), {
          reject: false,
          cwd: '/',
          env: { CI: '1', PATH: process.env.PATH ?? '' },
          extendEnv: false,
        });
      const readOnly = await asNobody(['--db', ws.db, 'history']);
      expect(readOnly.exitCode).toBe(1);
      expect(readOnly.stderr.trim()).toBe(
        `sendense-run: cannot open state database ${ws.db}: not writable by this user (permission denied for this user, uid 65534: it belongs to uid 0, mode 0644; run as the user that owns the state, e.g. the service's, or give another --db)`,
      );
      const unreachable = await asNobody(['--db', path.join(closed, 'sendense.db'), 'backups']);
      expect(unreachable.exitCode).toBe(1);
      expect(unreachable.stderr.trim()).toBe(
        `sendense-run: cannot reach state database ${path.join(closed, 'sendense.db')}: permission denied: this user may not enter a folder on its path (run as the user that owns it, or give another --db)`,
      );
      for (const result of [readOnly, unreachable]) expect(result.stderr).not.toMatch(/internal error|\bat .*:\d+/);
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    'started in a folder this user may not reach (inside a 0700 one), a run still starts its programs and backs up',
    async () => {
      // `sudo -u sendense sendense-run PLAN` typed in /root: the run's own files are the user's.
      chmodSync(ws.dir, 0o755);
      const home = path.join(ws.dir, 'home-of-a-closed-cwd');
      mkdirSync(home);
      chownSync(home, NOBODY, NOBODY);
      const inside = path.join(ws.dir, 'closed-cwd', 'inside');
      mkdirSync(inside, { recursive: true, mode: 0o755 });
      chmodSync(path.dirname(inside), 0o700);
      const disk = createDisk(path.join(home, 'disk0.qcow2'), 8 * 1024 * 1024);
      chownSync(disk, NOBODY, NOBODY);
      const plan = writePlan(home, {
        name: 'closed-cwd',
        vm: 'closed-cwd-vm',
        disks: [{ key: 2000, path: disk }],
        repository: path.join(home, 'repo'),
        ports: portRangeForTestFile(),
      });
      const asNobody = (args: readonly string[]) =>
        execa(
          'setpriv',
          nobodyArgv([process.execPath, packageCopy.bin, '--db', path.join(home, 'state.db'), ...args]),
          {
            reject: false,
            cwd: inside,
            env: { CI: '1', PATH: process.env.PATH ?? '', HOME: home },
            extendEnv: false,
          },
        );
      const run = await asNobody([plan]);
      // Before: "qemu-img: spawn qemu-img EACCES" from every program the run started.
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      const points = await asNobody(['backups', '--vm', 'closed-cwd-vm', '--json']);
      expect(points.stdout.trim().split('\n')).toHaveLength(1);
      expect(points.stdout).toContain('"type":"full"');
    },
  );
});
