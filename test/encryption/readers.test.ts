// The commands that read an encrypted repository outside a backup plan (files, a files restore
// plan, verify, serve), on a real GPT + ext4 guest backed up twice into a repository made with
// repository.encryption.keyFile: with --key-file each reads the points exactly; without a key, or
// with a wrong one, each refuses in one line (exit 2) before anything starts, leaving no process
// and nothing marked or recorded; the key's text appears in no output. The files commands start
// a real libguestfs appliance (software emulation here), so they are few.

import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { jsonLines, readTree, repositoryFingerprint, subTree } from '../files/guest-disk.js';
import { exportDifference, qemuIo, useServes, writeHubConfig } from '../serve/serve-cli.js';
import { leasedPorts, processesUnder, recordedProcesses, tableRows } from '../support/process-tree.js';
import { waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  KNOWN_FILE,
  KNOWN_TEXT,
  backUpPoints,
  backupsOf,
  cli,
  expectKeyNowhere,
  expectOneLine,
  makeEncryptedGuest,
  type EncryptedGuest,
} from './encrypted-guest.js';

const ws = useRunWorkspace('encrypted-readers-', { per: 'file' });
const ports = portRangeForTestFile(20);
const serves = useServes(() => path.join(ws.dir, 'state.db'));
const APPLIANCE = 600_000;
let guest: EncryptedGuest;
let wrongKey: string;
let before: Record<string, string>;

beforeAll(async () => {
  guest = makeEncryptedGuest(ws.dir, 'encvm', ports);
  await backUpPoints(guest, 2);
  wrongKey = path.join(ws.dir, 'wrong.key');
  writeFileSync(wrongKey, randomBytes(32).toString('base64'), { mode: 0o600 });
  before = repositoryFingerprint(guest.repository);
}, 300_000);

afterAll(() => {
  if (guest === undefined) return;
  // Reading never changed a repository file; the key's text was never printed.
  expect(repositoryFingerprint(guest.repository)).toEqual(before);
  expectKeyNowhere(guest);
});

const key = () => ['--key-file', guest.keyFile];
const runs = () => tableRows(guest.db, 'runs');
const pointDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith('sendense-point-'));

// Nothing of ours runs on the repository's files, and nothing is recorded as running.
function expectNothingLeft(): void {
  expect(processesUnder(guest.repository)).toEqual([]);
  expect(recordedProcesses(guest.db)).toEqual([]);
  expect(leasedPorts(guest.db)).toEqual([]);
}

describe('an encrypted repository', () => {
  it('is one: every backup file is a LUKS qcow2, and the key is needed to read it', async () => {
    const backups = await backupsOf(guest);
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
    for (const backup of backups) expect(readFileSync(backup.disks[0]!.file).readUInt32BE(32), backup.id).toBe(2);
  });
});

describe('files', () => {
  it('without a key, or with a wrong one: one line, exit 2, no appliance started, no process left, no run recorded', async () => {
    const runsBefore = runs();
    const dirsBefore = pointDirs();
    const none = await cli(guest, ['files', guest.vm, 'p1:/'], {}, true);
    expectOneLine(none, 2, new RegExp(`repository ${guest.repository} is encrypted; no key given .*--key-file`));
    const wrong = await cli(
      guest,
      ['files', guest.vm, '--key-file', wrongKey, '--get', `p1:/${KNOWN_FILE}`, '--to', path.join(ws.dir, 'never')],
      {},
      true,
    );
    expectOneLine(wrong, 2, new RegExp(`repository ${guest.repository} is encrypted; the key given does not open it`));
    expect(readdirSync(ws.dir)).not.toContain('never');
    expectNothingLeft();
    expect(runs()).toEqual(runsBefore);
    expect(pointDirs()).toEqual(dirsBefore);
  });

  it(
    'with --key-file lists a directory of point 1 and extracts the known file and a folder of the latest point',
    async () => {
      const [first, latest] = guest.ids as [string, string];
      const listed = await cli(guest, ['files', guest.vm, ...key(), '--point', first, '--json', 'p1:/'], {}, true);
      expect(listed.exitCode, `${listed.stdout}\n${listed.stderr}`).toBe(0);
      const entries = jsonLines<{ name: string; size: number; type: string }>(listed.stdout).filter(
        (entry) => entry.name !== 'lost+found',
      );
      expect(entries.map((entry) => entry.name).sort()).toEqual(
        Object.keys(guest.trees[first]!)
          .filter((name) => !name.includes('/'))
          .sort(),
      );
      expect(entries.find((entry) => entry.name === KNOWN_FILE)).toMatchObject({
        type: 'file',
        size: KNOWN_TEXT.length,
      });
      expect(listed.stderr).toMatch(/encrypted: read through a read-only qemu-nbd/);
      expectNothingLeft();

      const to = path.join(ws.dir, 'extracted');
      const extracted = await cli(
        guest,
        ['files', guest.vm, ...key(), '--get', `p1:/${KNOWN_FILE}`, 'p1:/etc', '--to', to],
        {},
        true,
      );
      expect(extracted.exitCode, `${extracted.stdout}\n${extracted.stderr}`).toBe(0);
      expect(readFileSync(path.join(to, KNOWN_FILE), 'utf8')).toBe(KNOWN_TEXT);
      expect(readTree(to)).toEqual({
        ...subTree(guest.trees[latest]!, KNOWN_FILE),
        ...subTree(guest.trees[latest]!, 'etc'),
      });
      expectNothingLeft();
      // Each read was a run of kind files (its qemu-nbd recorded under it), ended and given back.
      const fileRuns = (runs() as { kind: string; status: string }[]).filter((run) => run.kind === 'files');
      expect(fileRuns.map((run) => run.status)).toEqual(['succeeded', 'succeeded']);
    },
    2 * APPLIANCE,
  );

  it(
    'a restore plan with a files target and the repository key extracts from the encrypted point, then stops its qemu-nbd',
    async () => {
      const to = path.join(ws.dir, 'restored-files');
      const plan = path.join(ws.dir, 'files-restore.yaml');
      const restore = {
        point: guest.ids[0],
        target: { type: 'files', paths: [`p1:/${KNOWN_FILE}`, 'p1:/point-1.txt'], to },
      };
      writeFileSync(
        plan,
        stringify({
          version: 1,
          kind: 'restore',
          name: 'enc-files',
          vm: { name: guest.vm },
          repository: { path: guest.repository, encryption: { keyFile: guest.keyFile } },
          restore,
        }),
      );
      const result = await cli(guest, [plan], {}, true);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(readTree(to)).toEqual({
        ...subTree(guest.trees[guest.ids[0]!]!, KNOWN_FILE),
        ...subTree(guest.trees[guest.ids[0]!]!, 'point-1.txt'),
      });
      const stopped = [...result.stdout.matchAll(/stop qemu-nbd \(pid (\d+)\) reading the encrypted/g)].map((match) =>
        Number(match[1]),
      );
      expect(stopped).toHaveLength(1);
      expect(await waitForProcessGone(stopped[0]!)).toBe(true);
      expectNothingLeft();
    },
    APPLIANCE,
  );
});

describe('a restore plan', () => {
  it('without repository.encryption: the run fails before anything starts, naming the missing key; nothing restored', async () => {
    const to = path.join(ws.dir, 'restored.qcow2');
    const plan = path.join(ws.dir, 'restore-nokey.yaml');
    const restore = { point: 'latest', disks: [2000], target: { type: 'file', path: to, format: 'qcow2' } };
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'restore',
        name: 'enc-nokey',
        vm: { name: guest.vm },
        repository: { path: guest.repository },
        restore,
      }),
    );
    const result = await cli(guest, [plan]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(`${result.stdout}${result.stderr}`).toMatch(
      new RegExp(`failed in .*restore-nokey\\.yaml: repository ${guest.repository} is encrypted; no key given`),
    );
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/\[(resolve-point|allocate-ports|start-qemu-nbd)\]/);
    expect(readdirSync(ws.dir)).not.toContain('restored.qcow2');
    expectNothingLeft();
  });
});

describe('verify', () => {
  it('without a key, or with a wrong one: one line, exit 2, nothing checked, marked or recorded', async () => {
    const backupsBefore = tableRows(guest.db, 'backups');
    const runsBefore = runs();
    for (const [args, message] of [
      [[], /is encrypted; no key given/],
      [['--key-file', wrongKey], /is encrypted; the key given does not open it/],
      [['--vm', guest.vm, '--json', '--key-file', wrongKey], /is encrypted; the key given does not open it/],
    ] as const) {
      const result = await cli(guest, ['verify', ...args]);
      expectOneLine(result, 2, message);
    }
    expect(tableRows(guest.db, 'backups')).toEqual(backupsBefore);
    expect(runs()).toEqual(runsBefore);
    expect((await backupsOf(guest)).map((backup) => [backup.status, backup.verifiedAt])).toEqual(
      guest.ids.map(() => ['complete', null]),
    );
    expectNothingLeft();
  });

  it('with --key-file (or --key-env): every backup checked, clean', async () => {
    const result = await cli(guest, ['verify', ...key()]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('verified 2 backup(s), no damage found');
    const json = await cli(guest, ['verify', '--vm', guest.vm, '--key-env', 'ENC_TEST_KEY', '--json'], {
      ENC_TEST_KEY: guest.keyText,
    });
    expect(json.exitCode, `${json.stdout}\n${json.stderr}`).toBe(0);
    expect(jsonLines<{ type: string; damaged?: string[]; checked?: number }>(json.stdout).at(-1)).toMatchObject({
      type: 'summary',
      checked: 2,
      damaged: [],
    });
    expect((await backupsOf(guest)).every((backup) => backup.status === 'complete' && backup.verifiedAt !== null)).toBe(
      true,
    );
    expectNothingLeft();
  });

  it('refuses two key options, or a key given as --key-env NAME', async () => {
    expectOneLine(
      await cli(guest, ['verify', ...key(), '--key-env', 'ENC_TEST_KEY']),
      2,
      /give --key-file or --key-env, not both/,
    );
    expectOneLine(
      await cli(guest, ['verify', '--key-env', guest.keyText]),
      2,
      /--key-env needs the NAME of an environment variable/,
    );
  });
});

describe('serve', () => {
  it('without a key: one line, exit 2, no port leased, no qemu-nbd started', async () => {
    const hubConfig = writeHubConfig(ws.dir, ports);
    const result = await cli(guest, ['serve', guest.vm, '--hub-config', hubConfig]);
    expectOneLine(result, 2, /is encrypted; no key given/);
    expectNothingLeft();
  });

  it('with --key-file: a read-only export of the latest point that reads as the source did; SIGTERM gives it back', async () => {
    const hubConfig = writeHubConfig(ws.dir, ports);
    const serve = serves.start([guest.vm, '--db', guest.db, '--hub-config', hubConfig, ...key()], 1);
    const [disk] = await serve.serving;
    expect(disk!.key).toBe(2000);
    // The decrypted disk on a socket only this user opens (docs/instant-recovery.md#who-can-open-an-export).
    expect(disk!.url).toMatch(/^nbd\+unix:\/\/\/\S+\?socket=\S+\/sendense-serve-[^/]+\/disk-2000\.sock$/);
    const latest = guest.ids.at(-1)!;
    expect(exportDifference(disk!.url, guest.copies[latest]!)).toBe('');
    expect(exportDifference(disk!.url, guest.copies[guest.ids[0]!]!)).not.toBe('');
    const write = qemuIo(disk!.url, 'write -P 0x5a 0 64k');
    expect(write.status).not.toBe(0);
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    guest.outputs.push({ exitCode: exit.code ?? -1, stdout: exit.stdout, stderr: exit.stderr });
    expect(exit.code, exit.stderr).toBe(0);
    expectNothingLeft();
  });
});

describe('serve --key-env', () => {
  it("keeps the key out of each qemu-nbd's environment, readable in /proc while it runs", async () => {
    const hubConfig = writeHubConfig(ws.dir, ports);
    const serve = serves.start(
      [guest.vm, '--db', guest.db, '--hub-config', hubConfig, '--key-env', 'ENC_TEST_KEY'],
      1,
      { ENC_TEST_KEY: guest.keyText },
    );
    const [disk] = await serve.serving;
    expect(exportDifference(disk!.url, guest.copies[guest.ids.at(-1)!]!)).toBe('');
    // serve itself was given the key in its environment; the qemu-nbd it started has neither the variable nor the key.
    expect(readFileSync(`/proc/${serve.child.pid}/environ`, 'utf8').split('\0')).toContain(
      `ENC_TEST_KEY=${guest.keyText}`,
    );
    const servers = recordedProcesses(guest.db);
    expect(servers).toHaveLength(1);
    const environ = readFileSync(`/proc/${servers[0]!.pid}/environ`, 'utf8');
    expect(environ).not.toContain(guest.keyText);
    expect(environ.split('\0').map((entry) => entry.split('=')[0])).not.toContain('ENC_TEST_KEY');
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    guest.outputs.push({ exitCode: exit.code ?? -1, stdout: exit.stdout, stderr: exit.stderr });
    expect(exit.code, exit.stderr).toBe(0);
    expectNothingLeft();
  });
});

describe('a mount directory', () => {
  it('is refused as the files are: one line, exit 2, before anything starts', async () => {
    const dir = path.join(ws.dir, 'mnt');
    mkdirSync(dir);
    expectOneLine(await cli(guest, ['mount', guest.vm, dir]), 2, /is encrypted; no key given/);
    expectNothingLeft();
  });
});
