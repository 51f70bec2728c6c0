// Files sessions (docs/file-level-restore.md#files-sessions) on a real GPT + ext4 disk backed up at
// two points: a second `files` call of a point is answered by the appliance the first one started
// (the same session PID and appliance PID, one appliance started), prints what a call without a
// session prints, and extracts the bytes the guest held; a session directory that is not this
// user's alone is refused before anything connects; a session killed outright is cleaned by
// doctor, and one left idle ends by itself. Its listings take --appliance: an ext4 directory is
// otherwise listed by the fast path, with no appliance and no session (files-fast-path.test.ts).

import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_NODE_ID } from '../../src/node/node.js';
import { processStartTicks } from '../../src/process/process-identity.js';
import { FILES_SESSION_RESOURCE } from '../../src/files/session/session-record.js';
import { openStore } from '../../src/store/index.js';
import { BIN } from '../support/sendense-cli.js';
import { waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTerminals } from '../support/terminal.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpGuest, jsonLines, readTree, subTree, type BackedUpGuest, type FilesResult } from './guest-disk.js';

const ws = useRunWorkspace('files-session-', { per: 'file' });
let guest: BackedUpGuest;
const BOOT = 600_000;

interface SessionLine {
  type: string;
  pid: number;
  vm: string;
  backupId: string;
  state: string;
  appliancePid: number | null;
  appliancesStarted: number | null;
  calls: number | null;
  dir: string;
}

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'svm', portRangeForTestFile(10));
}, 600_000);

// Registered after the workspace's: runs before it removes the directory.
afterAll(async () => {
  if (!guest) return;
  await cli(['files', '--stop-sessions']);
});

async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<FilesResult> {
  const result = await execa(process.execPath, [BIN, '--db', guest.db, ...args], {
    reject: false,
    env: { CI: '1', SENDENSE_FILES_SESSION: 'on', XDG_RUNTIME_DIR: '', ...env },
    timeout: 600_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

const files = (...args: string[]) => cli(['files', guest.vm, ...args]);
const pointId = (point: number) => guest.backups[point - 1].id;

async function sessions(): Promise<SessionLine[]> {
  const result = await cli(['files', '--sessions', '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return jsonLines<SessionLine>(result.stdout).filter((line) => line.type === 'files-session');
}

function expectOk(result: FilesResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

function expectRefused(result: FilesResult, message: RegExp): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('sendense-run:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('a files session', () => {
  let first: SessionLine;

  it(
    'answers the second call with the appliance the first started, printing what a call without a session prints',
    async () => {
      const alone = await files('--point', pointId(2), '--json', '--appliance', 'p1:/', '--no-session');
      expectOk(alone);
      expect(await sessions()).toEqual([]);

      const layout = await files('--point', pointId(2), '--json', '--session-idle', '600');
      expectOk(layout);
      expect(jsonLines<{ name: string }>(layout.stdout).map((fs) => fs.name)).toEqual(['p1', 'p2']);
      [first] = await sessions();
      expect(first).toMatchObject({ state: 'open', backupId: pointId(2), appliancesStarted: 1, calls: 1 });

      const listing = await files('--point', pointId(2), '--json', '--appliance', 'p1:/');
      expectOk(listing);
      expect(listing.stdout).toBe(alone.stdout);
      expect(listing.stderr).toContain(`using files session pid ${first.pid}`);

      const to = path.join(ws.dir, 'restored');
      const extracted = await files('--point', pointId(2), '--get', 'p1:/etc', 'p1:/big.bin', '--to', to);
      expectOk(extracted);
      const tree = guest.trees[1];
      expect(readTree(to)).toEqual({ ...subTree(tree, 'etc'), ...subTree(tree, 'big.bin') });

      const [after] = await sessions();
      expect(after).toMatchObject({
        pid: first.pid,
        appliancePid: first.appliancePid,
        appliancesStarted: 1,
        calls: 3,
      });
    },
    BOOT,
  );

  it('refuses a base directory or a session directory that is not this user alone', async () => {
    // A base another user made (XDG_RUNTIME_DIR shared with them, say): refused, nothing started.
    const runtime = mkdtempSync(path.join(tmpdir(), 'files-session-runtime-'));
    try {
      mkdirSync(path.join(runtime, 'sendense-files'), { mode: 0o700 });
      chownSync(path.join(runtime, 'sendense-files'), 65534, 65534);
      expectRefused(
        await cli(['files', guest.vm, '--point', pointId(1), '--appliance', 'p1:/'], { XDG_RUNTIME_DIR: runtime }),
        /refusing the files session directory .*sendense-files: owned by uid 65534, not by this user/,
      );
      chownSync(path.join(runtime, 'sendense-files'), 0, 0);
      chmodSync(path.join(runtime, 'sendense-files'), 0o755);
      expectRefused(
        await cli(['files', guest.vm, '--point', pointId(1), '--appliance', 'p1:/'], { XDG_RUNTIME_DIR: runtime }),
        /refusing the files session directory .*sendense-files: mode 0755: others may enter it/,
      );
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
    // The running session's own directory, opened to others or given away: not connected to.
    for (const [change, message] of [
      [() => chmodSync(first.dir, 0o750), /mode 0750: others may enter it/],
      [() => chownSync(first.dir, 65534, 65534), /owned by uid 65534, not by this user/],
    ] as const) {
      change();
      try {
        expectRefused(await files('--point', pointId(2), '--appliance', 'p1:/'), message);
      } finally {
        chownSync(first.dir, 0, 0);
        chmodSync(first.dir, 0o700);
      }
    }
    const [still] = await sessions();
    expect(still).toMatchObject({ pid: first.pid, calls: 3 });
  });

  it(
    'killed outright, is found by doctor, which removes its socket and browse directories and record',
    async () => {
      // The folder its appliance's downloads pass through (docs/file-level-restore.md#where-a-download-passes).
      const browseFolders = () =>
        readdirSync(tmpdir()).filter((name) => name.startsWith(`sendense-browse-${first.pid}-`));
      expect(browseFolders()).toHaveLength(1);
      process.kill(first.pid, 'SIGKILL');
      expect(await waitForProcessGone(first.pid)).toBe(true);
      expect((await sessions()).map((s) => s.state)).toEqual(['gone']);
      const doctor = await cli(['doctor']);
      expect(doctor.stdout).toMatch(
        new RegExp(`files session pid ${first.pid} on VM svm .*remove its socket directory`),
      );
      expect(doctor.stdout).toContain(`(its process, pid ${first.pid}, is gone): remove it`);
      expect(existsSync(first.dir)).toBe(false);
      expect(browseFolders()).toEqual([]);
      expect(await sessions()).toEqual([]);
      // Its appliance went with it (the agent saw its input close, or doctor stopped the orphan).
      expect(await waitForProcessGone(first.appliancePid!)).toBe(true);
    },
    BOOT,
  );

  it(
    'ends by itself once idle for its timeout, leaving nothing',
    async () => {
      expectOk(await files('--point', pointId(1), '--appliance', 'p1:/', '--session-idle', '1'));
      const store = await openStore(guest.db);
      try {
        const recorded = (await store.allNodeResources()).filter((r) => r.kind === FILES_SESSION_RESOURCE);
        // It may already be gone: then its record is too.
        for (const resource of recorded) {
          expect(await waitForProcessGone(Number(resource.facts.pid))).toBe(true);
          expect(await waitForGone(resource.name)).toBe(true);
        }
        expect((await store.allNodeResources()).filter((r) => r.kind === FILES_SESSION_RESOURCE)).toEqual([]);
        const runs = (await store.listRuns({ limit: 5 })).filter((run) => run.kind === 'files');
        expect(runs[0]?.note).toMatch(/ended idle or its appliance gone/);
      } finally {
        await store.close();
      }
    },
    BOOT,
  );

  it('a recorded session whose directory others may enter is refused, whatever the record says', async () => {
    const dir = path.join(path.dirname(guest.db), 'files-sessions', 's-planted');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    const store = await openStore(guest.db);
    try {
      const run = await store.createRun({ plan: 'files', kind: 'files', trigger: 'manual', pid: sleeper.pid });
      await store.recordNodeResource({
        runId: run.id,
        node: LOCAL_NODE_ID,
        kind: FILES_SESSION_RESOURCE,
        name: dir,
        facts: {
          host: hostname(),
          pid: sleeper.pid!,
          startTicks: processStartTicks(sleeper.pid!)!,
          vm: guest.vm,
          backupId: pointId(1),
          diskKey: 2000,
          repository: guest.backups[0].repository,
          idleSeconds: 60,
        },
      });
      expectRefused(
        await files('--point', pointId(1), '--appliance', 'p1:/'),
        /s-planted: mode 0755: others may enter it/,
      );
      // doctor stops exactly that process and removes the directory.
      const doctor = await cli(['doctor']);
      expect(doctor.stdout).toMatch(new RegExp(`files session pid ${sleeper.pid} `));
      expect(await waitForProcessGone(sleeper.pid!)).toBe(true);
      expect(existsSync(dir)).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
      await store.close();
    }
  });
});

// The default (docs/file-level-restore.md#files-sessions): a session only for someone at a terminal.
describe('without --session or SENDENSE_FILES_SESSION', () => {
  const terminals = useTerminals();

  it(
    'a call without a terminal leaves no session behind; one at a terminal keeps its point open',
    async () => {
      const piped = await cli(['files', guest.vm, '--point', pointId(1), '--json', 'p1:/'], {
        SENDENSE_FILES_SESSION: '',
      });
      expectOk(piped);
      expect(piped.stderr).not.toMatch(/files session pid/);
      expect(await sessions()).toEqual([]);

      const term = terminals.open(['--db', guest.db, 'files', guest.vm, '--point', pointId(1), '--appliance', 'p1:/'], {
        env: { XDG_RUNTIME_DIR: '', SENDENSE_FILES_SESSION: '' },
      });
      expect(await term.exited(BOOT)).toBe(0);
      expect(term.screen()).toMatch(/files session pid \d+ keeps VM svm/);
      expect(await sessions()).toMatchObject([{ state: 'open', backupId: pointId(1), calls: 1 }]);
    },
    2 * BOOT,
  );
});

async function waitForGone(file: string): Promise<boolean> {
  for (let i = 0; i < 3000 && existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return !existsSync(file);
}
