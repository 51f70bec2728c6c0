// The API's file browser (src/api/files/browse-sessions.ts) on a real GPT + ext4 disk backed up
// once: listings served by one warm appliance, a folder as a ZIP and a tar.zst holding what
// `sendense-run files --get` extracts, byte ranges, paths that could leave the guest's tree
// refused, a stopped download leaving the session usable, and idle expiry and closeAll giving
// back every process. One appliance serves the file (a start costs seconds with KVM, a minute
// without); the idle test starts a second one, the CLI comparison a third.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  linkSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
  chownSync,
  utimesSync,
  lutimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowseSessions, type PointKey } from '../../../src/api/files/browse-sessions.js';
import { FilesRequestError } from '../../../src/api/files/files-request-error.js';
import { parseRequestPath } from '../../../src/api/files/request-path.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { makeGptExt4Disk, readTree, sendenseFiles, type Tree } from '../../files/guest-disk.js';
import { descendantPids } from '../../support/process-tree.js';
import { waitForProcessGone, DEADLINE_UNDER_LOAD_MS } from '../../support/processes.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { BIN, writePlan } from '../../support/sendense-cli.js';
import { portRangeForTestFile } from '../../support/vm-disks.js';

const ws = useRunWorkspace('api-files-', { per: 'file' });
const VM = 'apivm';
const BIG = randomBytes(5 * 1024 * 1024 + 123);
const T0 = Date.UTC(2022, 1, 3, 4, 5, 6) / 1000;
const BOOT = 600_000;
let store: Store;
let sessions: BrowseSessions;
const key: PointKey = { vm: VM };

// data/: files of several sizes and names, a folder, an empty one, a setuid file, a hard link,
// symlinks (relative, to /, to /etc), a FIFO; etc/: the guest's own, to tell it from the appliance's.
function writeGuestTree(root: string): void {
  const data = path.join(root, 'data');
  mkdirSync(path.join(data, 'sub', 'deeper'), { recursive: true });
  mkdirSync(path.join(data, 'empty-dir'));
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc', 'guest-only'), 'the guest etc\n');
  writeFileSync(path.join(data, 'a.txt'), 'alpha\n');
  writeFileSync(path.join(data, 'with space.txt'), 'space\n');
  writeFileSync(path.join(data, 'été ☕.txt'), 'café\n');
  writeFileSync(path.join(data, 'empty.txt'), '');
  writeFileSync(path.join(data, 'big.bin'), BIG);
  writeFileSync(path.join(data, 'sub', 'deeper', 'deep.txt'), 'deep\n'.repeat(1000));
  writeFileSync(path.join(data, 'su-root'), '#!/bin/sh\nid\n');
  chmodSync(path.join(data, 'su-root'), 0o4755);
  chownSync(path.join(data, 'a.txt'), 1001, 1002);
  linkSync(path.join(data, 'a.txt'), path.join(data, 'hard-a'));
  symlinkSync('a.txt', path.join(data, 'rel-link'));
  symlinkSync('/', path.join(data, 'escape'));
  symlinkSync('/etc', path.join(data, 'abs-etc'));
  execFileSync('mkfifo', [path.join(data, 'pipe')]);
  // (readdirSync's recursive follows symlinks: the names are listed here.)
  for (const name of ['escape', 'abs-etc', 'rel-link']) lutimesSync(path.join(data, name), T0, T0);
  for (const name of [
    'a.txt',
    'with space.txt',
    'été ☕.txt',
    'empty.txt',
    'big.bin',
    'su-root',
    'pipe',
    'sub/deeper/deep.txt',
    'sub/deeper',
    'sub',
    'empty-dir',
  ]) {
    utimesSync(path.join(data, name), T0 + name.length, T0 + name.length);
  }
  utimesSync(data, T0, T0);
}

beforeAll(async () => {
  const root = path.join(ws.dir, 'tree');
  mkdirSync(root);
  writeGuestTree(root);
  const raw = path.join(ws.dir, 'guest.raw');
  makeGptExt4Disk(raw, root);
  const source = path.join(ws.dir, `${VM}-2000.qcow2`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
  const plan = writePlan(ws.dir, {
    name: `${VM}-backup`,
    kind: 'backup',
    vm: VM,
    disks: [{ key: 2000, path: source }],
    repository: ws.repository,
    ports: portRangeForTestFile(10),
  });
  const result = await execa(process.execPath, [BIN, plan, '--db', ws.db], { reject: false, env: { CI: '1' } });
  if (result.exitCode !== 0) throw new Error(`backup failed:\n${result.stdout}\n${result.stderr}`);
  store = await openStore(ws.db);
  sessions = new BrowseSessions(store);
}, BOOT);

afterAll(async () => {
  await sessions?.closeAll();
  await store?.close();
});

// What a stream wrote, whole.
async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// A tree as unzip gives it back: no owners (a ZIP keeps none), times to 2 s (unzip reads the
// local header's DOS time; the exact second is in the central directory's extended timestamp),
// and none for a symlink (unzip leaves it the time it made it).
function asUnzipped(tree: Tree): Tree {
  return Object.fromEntries(
    Object.entries(tree).map(([name, { uid: _uid, gid: _gid, ...entry }]) => [
      name,
      { ...entry, mtime: entry.type === 'symlink' ? 0 : entry.mtime - (entry.mtime % 2) } as Tree[string],
    ]),
  );
}

// Whether `check` comes true before the deadline (polled).
async function eventually(check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

async function refusal(promise: Promise<unknown>): Promise<FilesRequestError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FilesRequestError);
  return error as FilesRequestError;
}

describe('a warm session', () => {
  it(
    'lists the filesystems and a folder twice with one appliance, as files --json prints them',
    async () => {
      const { point, filesystems } = await sessions.filesystems(key);
      expect(filesystems.map((fs) => [fs.name, fs.type, fs.partitionTable])).toEqual([
        ['p1', 'ext4', 'gpt'],
        ['p2', 'unknown', 'gpt'],
      ]);
      const [first] = sessions.sessions();
      const byId: PointKey = { vm: VM, point: point.backupId, disk: 2000 };
      const listing = await sessions.list(byId, 'p1:/data');
      expect(listing.map((entry) => entry.name)).toEqual([
        'a.txt',
        'abs-etc',
        'big.bin',
        'empty-dir',
        'empty.txt',
        'escape',
        'hard-a',
        'pipe',
        'rel-link',
        'su-root',
        'sub',
        'with space.txt',
        'été ☕.txt',
      ]);
      expect(listing.find((entry) => entry.name === 'a.txt')).toEqual({
        name: 'a.txt',
        type: 'file',
        size: 6,
        mode: '0644',
        uid: 1001,
        gid: 1002,
        mtime: new Date((T0 + 5) * 1000).toISOString(),
      });
      expect(listing.find((entry) => entry.name === 'escape')).toMatchObject({ type: 'symlink', target: '/' });
      expect(await sessions.list(key, 'p1:/data/sub/deeper')).toMatchObject([{ name: 'deep.txt', size: 5000 }]);
      // latest and its id are one point: the same session, the same appliance.
      expect(sessions.appliancesStarted).toBe(1);
      expect(sessions.sessions()).toMatchObject([
        { backupId: point.backupId, diskKey: 2000, appliancePid: first.appliancePid, users: 0 },
      ]);
    },
    BOOT,
  );

  it(
    'zips a folder and packs it as tar.zst holding what files --get extracts into a directory',
    async () => {
      const cli = await sendenseFiles([
        'files',
        VM,
        '--db',
        ws.db,
        '--get',
        'p1:/data',
        '--to',
        path.join(ws.dir, 'cli'),
      ]);
      expect(cli.exitCode, cli.stderr).toBe(0);
      const extracted = readTree(path.join(ws.dir, 'cli'));
      expect(Object.keys(extracted)).toContain('data/hard-a');
      expect(Object.keys(extracted)).not.toContain('data/pipe');

      const zip = path.join(ws.dir, 'data.zip');
      const result = await sessions.zipDirectory(key, 'p1:/data', createWriteStream(zip));
      expect(result.skipped).toEqual([{ name: 'pipe', why: 'a FIFO: FIFOs are never created from a backup' }]);
      const unzipped = path.join(ws.dir, 'unzipped');
      execFileSync('unzip', ['-q', zip, '-d', unzipped]);
      expect(asUnzipped(readTree(unzipped))).toEqual(asUnzipped(extracted));

      const tarZst = path.join(ws.dir, 'data.tar.zst');
      await sessions.tarZstDirectory(key, 'p1:/data', createWriteStream(tarZst));
      const untarred = path.join(ws.dir, 'untarred');
      mkdirSync(untarred);
      execFileSync('tar', ['--zstd', '-x', '--numeric-owner', '-f', tarZst, '-C', untarred]);
      expect(readTree(untarred)).toEqual(extracted);
      expect(sessions.appliancesStarted).toBe(1);
    },
    BOOT,
  );

  it(
    'gives a byte range of a file, the whole file, and refuses a symlink, a folder and a range past the end',
    async () => {
      const range = await sessions.openFile(key, 'p1:/data/big.bin', { start: 1000, end: 3_000_000 });
      expect({ size: range.size, start: range.start, end: range.end }).toEqual({
        size: BIG.length,
        start: 1000,
        end: 3_000_000,
      });
      expect((await collect(range.stream)).equals(BIG.subarray(1000, 3_000_001))).toBe(true);
      const whole = await sessions.openFile(key, 'p1:/data/sub/deeper/deep.txt');
      expect((await collect(whole.stream)).toString()).toBe('deep\n'.repeat(1000));
      expect((await collect((await sessions.openFile(key, 'p1:/data/empty.txt')).stream)).length).toBe(0);
      expect((await refusal(sessions.openFile(key, 'p1:/data/rel-link'))).refusal).toBe('wrong-type');
      expect((await refusal(sessions.openFile(key, 'p1:/data/sub'))).refusal).toBe('wrong-type');
      expect((await refusal(sessions.openFile(key, 'p1:/data/a.txt', { start: 2, end: 6 }))).refusal).toBe('range');
      expect((await refusal(sessions.openFile(key, 'p1:/data/nothing-here'))).refusal).toBe('not-found');
      expect(sessions.appliancesStarted).toBe(1);
    },
    BOOT,
  );
});

describe('paths that could leave the guest tree', () => {
  it('refuses .., NUL, relative paths, over-long paths and names before anything is read', () => {
    for (const [text, why] of [
      ['p1:/data/../etc', /'\.\.'/],
      ['p1:/..', /'\.\.'/],
      ['p1:/data\0/x', /NUL/],
      ['p1:data', /absolute/],
      ['/etc/passwd', /NAME:\/PATH/],
      [`p1:/${'d/'.repeat(2100)}`, /longer than 4096 bytes/],
      [`p1:/${'n'.repeat(256)}`, /longer than 255 bytes/],
    ] as const) {
      let caught: unknown;
      try {
        parseRequestPath(text);
      } catch (error) {
        caught = error;
      }
      expect(caught, text.slice(0, 40)).toBeInstanceOf(FilesRequestError);
      expect((caught as FilesRequestError).refusal).toBe('bad-request');
      expect((caught as Error).message).toMatch(why);
    }
    expect(parseRequestPath('vg0/root:/a/./b/')).toEqual({ fs: 'vg0/root', path: '/a/b' });
  });

  it(
    "reads a path through a symlink to / in the guest's tree, never the appliance's; refuses an unknown filesystem",
    async () => {
      // data/escape -> /: the guest's /etc, which holds only guest-only.
      expect((await sessions.list(key, 'p1:/data/escape/etc')).map((entry) => entry.name)).toEqual(['guest-only']);
      const through = await sessions.openFile(key, 'p1:/data/escape/etc/guest-only');
      expect((await collect(through.stream)).toString()).toBe('the guest etc\n');
      // A folder through it too: the archive holds the guest's /etc (named as its real path).
      const etcZip = path.join(ws.dir, 'etc.zip');
      await sessions.zipDirectory(key, 'p1:/data/escape/etc', createWriteStream(etcZip));
      const etcOut = path.join(ws.dir, 'etc-out');
      execFileSync('unzip', ['-q', etcZip, '-d', etcOut]);
      expect(Object.keys(readTree(etcOut))).toEqual(['etc', 'etc/guest-only']);
      // A symlink asked for as an archive is one symlink entry, not what it names.
      const zip = path.join(ws.dir, 'abs-etc.zip');
      await sessions.zipDirectory(key, 'p1:/data/abs-etc', createWriteStream(zip));
      const out = path.join(ws.dir, 'abs-etc-out');
      execFileSync('unzip', ['-q', zip, '-d', out]);
      expect(readTree(out)).toMatchObject({ 'data/abs-etc': { type: 'symlink', target: '/etc' } });
      expect(Object.keys(readTree(out))).toEqual(['data', 'data/abs-etc']);
      for (const bad of ['p2:/', 'nosuch:/', 'p9:/etc'])
        expect((await refusal(sessions.list(key, bad))).refusal).toBe('bad-request');
      expect(sessions.appliancesStarted).toBe(1);
    },
    BOOT,
  );
});

describe('stopping and closing', () => {
  it(
    'a ZIP stopped by its client ends the appliance read and leaves the session usable',
    async () => {
      const [before] = sessions.sessions();
      const stop = new AbortController();
      let taken = 0;
      // A client that takes a little and goes away.
      const client = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _encoding, done) {
          taken += chunk.length;
          if (taken > 64 * 1024) stop.abort();
          setTimeout(done, 5);
        },
      });
      const stopped = await sessions
        .zipDirectory(key, 'p1:/data', client, { signal: stop.signal, compress: false })
        .then(
          () => undefined,
          (error: unknown) => error as Error,
        );
      expect(stopped?.message).toMatch(/the download was stopped/);
      expect(taken).toBeLessThan(BIG.length);
      expect((await sessions.list(key, 'p1:/data/sub')).map((entry) => entry.name)).toEqual(['deeper']);
      expect(sessions.sessions()).toMatchObject([{ appliancePid: before.appliancePid, users: 0 }]);
      expect(sessions.appliancesStarted).toBe(1);
    },
    BOOT,
  );

  it(
    'an idle session closes by itself: its appliance, its FIFO folder and any run record are gone',
    async () => {
      const browseDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('sendense-browse-'));
      const dirsBefore = browseDirs();
      const brief = new BrowseSessions(store, { idleMs: 200 });
      try {
        expect((await brief.list(key, 'p1:/data/sub')).map((entry) => entry.name)).toEqual(['deeper']);
        const [session] = brief.sessions();
        const appliance = [session.appliancePid, ...descendantPids(session.appliancePid)];
        expect(appliance.length).toBeGreaterThan(1);
        // Other test files may open and close sessions meanwhile: only the folders new since are ours.
        const ours = browseDirs().filter((name) => !dirsBefore.includes(name));
        expect(ours.length).toBeGreaterThanOrEqual(1);
        // Closing is the session's own business: what the test sees is each thing gone, in time.
        expect(await eventually(() => brief.sessions().length === 0)).toBe(true);
        for (const pid of appliance) expect(await waitForProcessGone(pid), `pid ${pid}`).toBe(true);
        // Ours goes (with one other test's folder made meanwhile, at least one of the two).
        const left = () => ours.filter((name) => browseDirs().includes(name));
        expect(await eventually(() => left().length < ours.length)).toBe(true);
        if (ours.length === 1) expect(left()).toEqual([]);
        expect(await store.runningRuns()).toEqual([]);
        expect(await store.allProcesses()).toEqual([]);
      } finally {
        await brief.closeAll();
      }
    },
    BOOT,
  );

  it(
    'closeAll gives back every appliance and refuses what comes after',
    async () => {
      const [session] = sessions.sessions();
      const appliance = [session.appliancePid, ...descendantPids(session.appliancePid)];
      await sessions.closeAll();
      for (const pid of appliance) expect(await waitForProcessGone(pid), `pid ${pid}`).toBe(true);
      expect(sessions.sessions()).toEqual([]);
      expect(await store.runningRuns()).toEqual([]);
      await expect(sessions.list(key, 'p1:/')).rejects.toThrow(/shutting down/);
    },
    BOOT,
  );
});
