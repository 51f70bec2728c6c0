// The same commands with the state in PostgreSQL (--db postgres://...): backups, history,
// restores, doctor and catalog import work as they do on SQLite — and the password never shows.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { PASSWORD_USER } from '../support/postgres-server.js';
import { usePostgresServer } from '../support/store-dialects.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpThreePoints } from './chain-fixture.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('postgres-state-');

describe('state in PostgreSQL', () => {
  const postgres = usePostgresServer();

  it('backs up a chain, lists it, restores every point exactly, and catalog import fills another database', async () => {
    const db = await postgres.server.createDatabase('e2e');
    const chain = await backUpThreePoints(ws.dir, ws.repository, db, ports);
    const backups = await listBackups(db, 'vmv');
    expect(backups.map((b) => [b.type, b.status, b.restorable])).toEqual([
      ['full', 'complete', true],
      ['incremental', 'complete', true],
      ['incremental', 'complete', true],
    ]);
    expect(backups[2]!.parentId).toBe(backups[1]!.id);

    const history = await sendenseRun(['history', '--db', db, '--json']);
    const runs = history.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { status: string; hub: string });
    expect(runs.map((run) => run.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(runs.every((run) => typeof run.hub === 'string' && run.hub.length > 0)).toBe(true);

    for (const [point, backup] of backups.entries()) {
      const restored = path.join(ws.dir, `restored-${point}-{key}.qcow2`);
      const plan = writeRestorePlan(ws.dir, {
        name: `restore-${point}`,
        vm: 'vmv',
        repository: ws.repository,
        ports,
        point: backup.id,
        target: { type: 'file', path: restored, format: 'qcow2' },
      });
      const restore = await sendenseRun([plan, '--db', db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
      for (const key of [2000, 2001])
        expect(restoredDifference(chain.copies[point]![key]!, restored.replace('{key}', String(key)), 'qcow2')).toBe(
          '',
        );
    }

    const doctor = await sendenseRun(['doctor', '--dry-run', '--db', db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);

    const other = await postgres.server.createDatabase('import');
    const imported = await sendenseRun(['catalog', 'import', ws.repository, '--db', other]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    expect(imported.stdout).toMatch(/imported 3 backup\(s\)/);
    expect((await listBackups(other, 'vmv')).map((b) => [b.id, b.status])).toEqual(
      backups.map((b) => [b.id, 'complete']),
    );
  });

  it('takes the password from PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE, and never shows it', async () => {
    const db = (await postgres.server.createDatabase('pw', PASSWORD_USER.name)).replace(
      /\/\/[^@]*@/,
      `//${PASSWORD_USER.name}@`,
    );
    const noPassword = await sendenseRun(['history', '--db', db], { HOME: ws.dir });
    expect(noPassword.exitCode).toBe(1);
    expect(noPassword.stderr).toContain(`cannot connect to state database ${db}`);

    const fromEnv = await sendenseRun(['history', '--db', db], { PGPASSWORD: PASSWORD_USER.password, HOME: ws.dir });
    expect(fromEnv.exitCode, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toContain('no runs yet');

    const file = path.join(ws.dir, 'db-password');
    writeFileSync(file, `${PASSWORD_USER.password}\n`, { mode: 0o600 });
    const fromFile = await sendenseRun(['history', '--db', db], { SENDENSE_DB_PASSWORD_FILE: file, HOME: ws.dir });
    expect(fromFile.exitCode, fromFile.stderr).toBe(0);

    writeFileSync(path.join(ws.dir, '.pgpass'), `127.0.0.1:*:*:${PASSWORD_USER.name}:${PASSWORD_USER.password}\n`, {
      mode: 0o600,
    });
    const fromPgpass = await sendenseRun(['history', '--db', db], { HOME: ws.dir });
    expect(fromPgpass.exitCode, fromPgpass.stderr).toBe(0);

    writeFileSync(file, 'wrong-password-1\n', { mode: 0o600 });
    const wrong = await sendenseRun(['history', '--db', db], { SENDENSE_DB_PASSWORD_FILE: file, HOME: '/nonexistent' });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/password authentication failed/);
    expect(wrong.stderr).not.toContain('wrong-password-1');
  });

  it('refuses a password in the URL, and names the database without it when it cannot connect', async () => {
    const withPassword = postgres.server.url('e2e').replace('sendense@', 'sendense:hunter2@');
    const refused = await sendenseRun(['history', '--db', withPassword]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('contains a password');
    expect(refused.stderr).not.toContain('hunter2');
    expect(refused.stderr).not.toMatch(/\n\s+at /);

    const viaEnv = await sendenseRun(['history'], { SENDENSE_DB: withPassword });
    expect(viaEnv.exitCode).toBe(2);
    expect(viaEnv.stderr).not.toContain('hunter2');

    // A password file is read, and its content never shows, even when the connection fails.
    const file = path.join(ws.dir, 'db-password');
    writeFileSync(file, 'hunter3\n', { mode: 0o600 });
    const missing = postgres.server.url('no_such_db');
    const failed = await sendenseRun(['history', '--db', missing], { SENDENSE_DB_PASSWORD_FILE: file });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain(`cannot connect to state database ${missing}`);
    expect(failed.stderr).not.toContain('hunter3');
  });
});
