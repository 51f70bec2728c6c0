// verify, repository by repository: one VM backed up by three plans into a plain repository and two
// encrypted ones with different keys. Without a key the plain repository is verified all the same,
// and each encrypted one is said NOT VERIFIED with the way to verify it (exit 2); `--repository`
// verifies only that repository's backups with its key; damage elsewhere still exits 1; and two
// verify plans, each naming its repository and key, verify each on its own schedule.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { flipBit } from './chain-fixture.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile(10);
const ws = useRunWorkspace('verify-repositories-', { per: 'file' });

interface Repo {
  readonly name: string;
  readonly path: string;
  /** The key file of an encrypted repository. */
  readonly keyFile?: string;
}

let repos: Record<'plain' | 'a' | 'b', Repo>;
const verifiedAt = async (): Promise<Record<string, boolean>> => {
  const rows = (await listBackups(ws.db, 'vmr')) as unknown as { repository: string; verifiedAt: string | null }[];
  return Object.fromEntries(
    Object.entries(repos).map(([name, repo]) => [
      name,
      rows.some((row) => row.repository === repo.path && row.verifiedAt !== null),
    ]),
  );
};
const verify = (...args: string[]): Promise<CliResult> => sendenseRun(['verify', ...args, '--db', ws.db]);
const both = (result: CliResult) => `${result.stdout}\n${result.stderr}`;

// A backup plan of vmr into `repo`, with its key when it is encrypted.
function backupPlan(repo: Repo, source: string): string {
  const doc = {
    version: 1,
    kind: 'backup',
    name: `vmr-${repo.name}`,
    vm: { name: 'vmr', source: { type: 'qemu', disks: [{ key: 2000, path: source }] } },
    repository: { path: repo.path, ...(repo.keyFile === undefined ? {} : { encryption: { keyFile: repo.keyFile } }) },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  };
  const file = path.join(ws.dir, `backup-${repo.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

function verifyPlan(repo: Repo): string {
  const doc = {
    version: 1,
    kind: 'verify',
    name: `verify-${repo.name}`,
    repository: { path: repo.path, ...(repo.keyFile === undefined ? {} : { encryption: { keyFile: repo.keyFile } }) },
    verify: { vm: 'all' },
  };
  const file = path.join(ws.dir, `verify-${repo.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

beforeAll(async () => {
  const key = (name: string) => {
    const file = path.join(ws.dir, `${name}.key`);
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    return file;
  };
  repos = {
    plain: { name: 'plain', path: path.join(ws.dir, 'plain') },
    a: { name: 'a', path: path.join(ws.dir, 'enc-a'), keyFile: key('a') },
    b: { name: 'b', path: path.join(ws.dir, 'enc-b'), keyFile: key('b') },
  };
  const source = createDisk(path.join(ws.dir, 'vmr-2000.qcow2'), 4 * MiB);
  writeDisk(source, ['write -P 0x5a 0 1M', 'write -P 0x33 2M 512k']);
  for (const repo of Object.values(repos)) {
    const result = await sendenseRun([backupPlan(repo, source), '--db', ws.db]);
    expect(result.exitCode, both(result)).toBe(0);
  }
}, 180_000);

describe('verify without a key', () => {
  it('verifies the plain repository and says, for each encrypted one, that it was not verified and how to verify it (exit 2)', async () => {
    const result = await verify();
    expect(result.exitCode, both(result)).toBe(2);
    expect(result.stdout).toMatch(/verified 1 backup\(s\), no damage found/);
    for (const repo of [repos.a, repos.b]) {
      expect(result.stdout).toContain(
        `NOT VERIFIED: 1 backup(s) in ${repo.path}: repository ${repo.path} is encrypted; no key given`,
      );
      expect(result.stdout).toContain(`sendense-run verify --repository ${repo.path} and its key`);
    }
    expect(await verifiedAt()).toEqual({ plain: true, a: false, b: false });
    const json = await verify('--json');
    expect(json.exitCode, both(json)).toBe(2);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; repository?: string; notVerifiedRepositories?: string[] });
    expect(lines.filter((line) => line.type === 'repository-not-verified').map((line) => line.repository)).toEqual(
      [repos.a.path, repos.b.path].sort(),
    );
    expect(lines.at(-1)).toMatchObject({
      type: 'summary',
      checked: 1,
      damaged: [],
      notVerifiedRepositories: [repos.a.path, repos.b.path].sort(),
    });
  });

  it('of an encrypted repository alone: one line, exit 2, nothing checked', async () => {
    const result = await verify('--repository', repos.a.path);
    expect(result.exitCode, both(result)).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `sendense-run: repository ${repos.a.path} is encrypted; no key given (repository.encryption in the plan, or --key-file / --key-env)`,
    ]);
    expect((await verifiedAt()).a).toBe(false);
  });
});

describe('verify --repository', () => {
  it("checks only that repository's backups, with its key", async () => {
    const result = await verify('--repository', repos.a.path, '--key-file', repos.a.keyFile!);
    expect(result.exitCode, both(result)).toBe(0);
    expect(result.stdout).toMatch(/verified 1 backup\(s\), no damage found/);
    expect(result.stdout).not.toContain('NOT VERIFIED');
    expect((await verifiedAt()).a).toBe(true);
    expect((await verifiedAt()).b).toBe(false);
  });

  it('with the key of another repository: one line, exit 2', async () => {
    const result = await verify('--repository', repos.b.path, '--key-file', repos.a.keyFile!);
    expect(result.exitCode, both(result)).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `sendense-run: repository ${repos.b.path} is encrypted; the key given does not open it`,
    ]);
  });

  it('of a path holding no recorded backup: one line, exit 2', async () => {
    const result = await verify('--repository', path.join(ws.dir, 'nowhere'));
    expect(result.exitCode, both(result)).toBe(2);
    expect(result.stderr.trim()).toBe(
      `sendense-run: no backup recorded in repository ${path.join(ws.dir, 'nowhere')} in ${ws.db} (see sendense-run backups)`,
    );
  });
});

describe('two verify plans', () => {
  it('each naming its encrypted repository and key verifies that repository alone', async () => {
    for (const repo of [repos.a, repos.b]) {
      const result = await sendenseRun([verifyPlan(repo), '--db', ws.db]);
      expect(result.exitCode, both(result)).toBe(0);
      expect(result.stdout).toMatch(/verified 1 backup\(s\), no damage found/);
    }
    expect(await verifiedAt()).toEqual({ plain: true, a: true, b: true });
  });
});

describe('damage in the plain repository', () => {
  it('exits 1 even when an encrypted repository was left for its key', async () => {
    const plain = (await listBackups(ws.db, 'vmr')).find((row) => row.repository === repos.plain.path)!;
    flipBit(plain.disks[0]!.file, 'data cluster');
    const result = await verify('--key-file', repos.a.keyFile!);
    expect(result.exitCode, both(result)).toBe(1);
    expect(result.stdout).toContain(`DAMAGED backup ${plain.id} of vmr`);
    expect(result.stdout).toContain(
      `NOT VERIFIED: 1 backup(s) in ${repos.b.path}: repository ${repos.b.path} is encrypted; the key given does not open it`,
    );
  });
});
