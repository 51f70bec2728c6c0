// A browse session's FIFO folder (docs/file-level-restore.md#where-a-download-passes) outlives a
// process killed with kill -9; doctor removes it (and so does that database's next session), and
// nothing else: not a live process's, not another state database's, not one another user could
// plant (a symlink, a folder without its owner file).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { waitForProcessGone } from '../support/processes.js';
import { openStore } from '../../src/store/index.js';
import { sendenseRun } from '../support/sendense-cli.js';

const FIXTURE = path.resolve('test/files/fixtures/browse-dir-owner.mjs');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

// A process of `db` that has made its browse folder in `base`: its PID and the folder.
async function owner(base: string, db: string): Promise<{ pid: number; dir: string }> {
  const child = spawn(process.execPath, [FIXTURE, db], {
    env: { ...process.env, TMPDIR: base },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const dir = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the fixture ended (${code}): ${err}`)));
  });
  return { pid: child.pid!, dir };
}

it("kill -9 leaves the folder; doctor removes exactly the dead process's of its own database", async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'sendense-browse-base-'));
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  const db = path.join(base, 'state.db');
  const otherDb = path.join(base, 'other.db');
  await (await openStore(db)).close();

  const killed = await owner(base, db);
  const live = await owner(base, db);
  const otherDatabase = await owner(base, otherDb);
  expect(path.basename(killed.dir)).toMatch(new RegExp(`^sendense-browse-${killed.pid}-`));
  writeFileSync(path.join(killed.dir, `stream-${killed.pid}-1.fifo`), '');
  process.kill(killed.pid, 'SIGKILL');
  process.kill(otherDatabase.pid, 'SIGKILL');
  expect(await waitForProcessGone(killed.pid)).toBe(true);
  expect(await waitForProcessGone(otherDatabase.pid)).toBe(true);
  expect(existsSync(killed.dir)).toBe(true);

  // What anyone can put in the temp directory: a symlink to a dead owner's folder elsewhere, and a
  // folder with no owner file. Neither is ours to remove, nor what the symlink points at.
  const elsewhere = mkdtempSync(path.join(tmpdir(), 'sendense-elsewhere-'));
  cleanups.push(() => rmSync(elsewhere, { recursive: true, force: true }));
  writeFileSync(path.join(elsewhere, 'owner'), `${killed.pid}:1:${db}`);
  writeFileSync(path.join(elsewhere, 'keep'), 'kept');
  symlinkSync(elsewhere, path.join(base, `sendense-browse-${killed.pid}-planted`));
  mkdirSync(path.join(base, 'sendense-browse-1-noowner'));

  const dry = await sendenseRun(['doctor', '--dry-run', '--db', db], { TMPDIR: base });
  expect(dry.exitCode, dry.stdout + dry.stderr).toBe(1);
  expect(dry.stdout).toContain(
    `files browse folder ${killed.dir} (its process, pid ${killed.pid}, is gone): would remove it`,
  );
  expect(existsSync(killed.dir)).toBe(true);

  const doctor = await sendenseRun(['doctor', '--db', db], { TMPDIR: base });
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  expect(doctor.stdout).toContain(`files browse folder ${killed.dir} (its process, pid ${killed.pid}, is gone)`);
  expect(doctor.stdout.match(/files browse folder/g)).toHaveLength(1);
  expect(existsSync(killed.dir)).toBe(false);
  expect(existsSync(live.dir)).toBe(true);
  expect(existsSync(otherDatabase.dir)).toBe(true);
  expect(readdirSync(elsewhere).sort()).toEqual(['keep', 'owner']);
  expect(existsSync(path.join(base, 'sendense-browse-1-noowner'))).toBe(true);

  // The other database's next session removes its dead one's folder when it makes its own.
  const next = await owner(base, otherDb);
  expect(existsSync(otherDatabase.dir)).toBe(false);
  expect(existsSync(next.dir)).toBe(true);
  expect(existsSync(live.dir)).toBe(true);
}, 120_000);
