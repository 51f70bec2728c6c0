// Encrypted layers written by sendense-run itself rather than `qemu-img create`
// (docs/encryption.md#how-layers-are-made): QEMU opens them with the repository secret on fd 3 as
// it opens qemu-img's, takes writes and reads them back, finds nothing to fix; a chain of them
// reads exactly; another secret opens none; no two share a data key. A repository whose files
// qemu-img made (before this change) restores and takes new incrementals on top.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createOverlay, createQcow2, runLocal } from '../../src/qemu/index.js';
import { SECRET_ID, secretObjectArgs, type ImageSecret } from '../../src/qemu/image-secret.js';
import { luksQcow2Unsupported } from '../../src/qemu/luks-qcow2.js';
import { unlockKeyring } from '../../src/repository/keyring.js';
import { manifestPath } from '../../src/repository/manifest.js';
import { readManifest, writeManifest } from '../../src/repository/manifest-file.js';
import { offerRepositoryKey } from '../../src/repository/repository-keys.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-own-layers-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// A repository secret as keyring.ts makes one: 256 random bits, as text.
function newSecret(): ImageSecret {
  return { passphrase: randomBytes(32).toString('base64') };
}

// Image options of `file` and every layer below it, each opened with the secret.
function chainOpts(file: string, depth: number): string {
  const options = ['driver=qcow2', `file.filename=${file}`];
  for (let level = 0; level <= depth; level++)
    options.push(`${'backing.'.repeat(level)}encrypt.key-secret=${SECRET_ID}`);
  return options.join(',');
}

// A qemu tool given the secret on fd 3, as the product runs them (image-secret.ts).
async function qemu(argv: readonly string[], secret: ImageSecret): Promise<string> {
  // qemu-img takes its options after the subcommand.
  const head = argv[0] === 'qemu-img' ? 2 : 1;
  const result = await runLocal([...argv.slice(0, head), ...secretObjectArgs(secret), ...argv.slice(head)], {
    secret,
  });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

async function qemuIo(file: string, depth: number, secret: ImageSecret, commands: readonly string[]): Promise<string> {
  const output = await qemu(
    ['qemu-io', '--image-opts', chainOpts(file, depth), ...commands.flatMap((c) => ['-c', c])],
    secret,
  );
  expect(output).not.toMatch(/Pattern verification failed|error/i);
  return output;
}

interface LuksInfo {
  readonly 'cluster-size': number;
  readonly 'virtual-size': number;
  readonly 'format-specific': {
    readonly data: { readonly encrypt: Record<string, unknown> & { readonly slots: Record<string, unknown>[] } };
  };
}

async function luksInfo(file: string, secret: ImageSecret): Promise<LuksInfo> {
  return JSON.parse(
    await qemu(['qemu-img', 'info', '--output=json', '--image-opts', chainOpts(file, 0)], secret),
  ) as LuksInfo;
}

// What qemu-img says of a LUKS header apart from what is random in it, and the iteration counts.
function luksShape(info: LuksInfo): unknown {
  const { uuid: _uuid, 'master-key-iters': _iters, slots, ...rest } = info['format-specific'].data.encrypt;
  return { ...rest, slots: slots.map(({ iters: _slotIters, ...slot }) => slot) };
}

it('a layer we write opens with the secret like one of qemu-img: same first cluster, same LUKS shape, writes read back, check clean', async () => {
  const secret = newSecret();
  const base = path.join(dir, 'base.qcow2');
  const ours = path.join(dir, 'ours.qcow2');
  const theirs = path.join(dir, 'theirs.qcow2');
  await createQcow2(base, 64 * MiB, { secret });
  await createOverlay(ours, base, { secret, sizeBytes: 64 * MiB });
  // A runner sends the same call to qemu-img, as on a node: the reference.
  await createOverlay(theirs, base, { secret, sizeBytes: 64 * MiB, runner: runLocal });

  // The qcow2 header, its extensions (backing format, LUKS header place, feature names) and the
  // backing name: byte for byte qemu-img's; the LUKS header alike but for its random parts.
  expect(readFileSync(ours).subarray(0, 65536).equals(readFileSync(theirs).subarray(0, 65536))).toBe(true);
  const [mine, reference] = [await luksInfo(ours, secret), await luksInfo(theirs, secret)];
  expect(luksShape(mine)).toEqual(luksShape(reference));
  expect(mine['format-specific'].data.encrypt).toMatchObject({
    'cipher-alg': 'aes-256',
    'cipher-mode': 'xts',
    'ivgen-alg': 'plain64',
    'hash-alg': 'sha256',
    'master-key-iters': 1000,
    slots: [{ active: true, iters: 1000, stripes: 4000 }, ...Array(7).fill({ active: false })],
  });

  await qemuIo(base, 0, secret, ['write -P 0x5a 1M 3M', 'write -P 0x11 63M 1M']);
  await qemuIo(ours, 1, secret, ['write -P 0xc3 2M 64k', 'write -P 0x77 10M 1M']);
  await qemuIo(ours, 1, secret, [
    'read -P 0x5a 1M 1M',
    'read -P 0xc3 2M 64k',
    'read -P 0x5a 2162688 1982464',
    'read -P 0x77 10M 1M',
    'read -P 0x11 63M 1M',
    'read -P 0 0 1M',
  ]);
  // As qemu-img's path says them: an existing file is not replaced, a missing directory named.
  await expect(createQcow2(ours, 64 * MiB, { secret })).rejects.toThrow(`image ${ours} already exists`);
  await expect(createQcow2(path.join(dir, 'no', 'dir.qcow2'), MiB, { secret })).rejects.toThrow(
    /cannot create image .*no such file or directory/,
  );
  for (const [file, depth] of [[base, 0] as const, [ours, 1] as const]) {
    const check = await qemu(['qemu-img', 'check', '--image-opts', chainOpts(file, depth)], secret);
    expect(check).toMatch(/No errors were found on the image/);
    expect(check).not.toMatch(/leak/i);
  }
}, 60_000);

it('a chain of our layers reads exactly; another secret opens none; no two layers share a data key', async () => {
  const secret = newSecret();
  const expected = path.join(dir, 'expected.raw');
  createDisk(expected, 32 * MiB, 'raw');
  const layers = [0, 1, 2, 3].map((n) => path.join(dir, `point-${n}.qcow2`));
  await createQcow2(layers[0]!, 32 * MiB, { secret });
  for (let n = 1; n < layers.length; n++)
    await createOverlay(layers[n]!, layers[n - 1]!, { secret, sizeBytes: 32 * MiB });
  for (const [n, layer] of layers.entries()) {
    const writes = [`write -P 0x${(0x40 + n).toString(16)} ${n * 3}M 5M`, `write -z ${n * 2 + 20}M 1M`];
    await qemuIo(layer, n, secret, writes);
    writeDisk(expected, writes, 'raw');
  }
  const top = layers[3]!;
  const compare = ['qemu-img', 'compare', '--image-opts', chainOpts(top, 3), `driver=raw,file.filename=${expected}`];
  expect(await qemu(compare, secret)).toMatch(/Images are identical/);

  const wrong = newSecret();
  for (const layer of layers)
    await expect(qemu(['qemu-io', '--image-opts', chainOpts(layer, 0), '-c', 'read 0 64k'], wrong)).rejects.toThrow(
      /Invalid password, cannot unlock any keyslot/,
    );

  // The same plaintext at the same place of two fresh files lands at the same place of each file
  // (after the same L2 table) with the same IV: what it added differs only if the data keys do.
  const [a, b] = [path.join(dir, 'a.qcow2'), path.join(dir, 'b.qcow2')];
  const added = async (file: string): Promise<Buffer> => {
    await createQcow2(file, 8 * MiB, { secret });
    const before = statSync(file).size;
    await qemuIo(file, 0, secret, ['write -P 0x33 0 64k']);
    return readFileSync(file).subarray(before);
  };
  const [addedA, addedB] = [await added(a), await added(b)];
  expect(addedA.length).toBeGreaterThanOrEqual(65536);
  expect(addedA.includes(Buffer.alloc(64, 0x33))).toBe(false);
  expect(addedA.length).toBe(addedB.length);
  expect(addedA.equals(addedB)).toBe(false);
}, 60_000);

it("the VMware client's 2 MiB clusters with extended L2 entries: written as qemu-img writes them; other options go to qemu-img", async () => {
  const secret = newSecret();
  const shape = ['cluster_size=2M', 'extended_l2=on'];
  const [ours, theirs] = [path.join(dir, 'ours-2m.qcow2'), path.join(dir, 'theirs-2m.qcow2')];
  await createQcow2(ours, 100 * 1024 * MiB, { secret, formatOptions: shape });
  await createQcow2(theirs, 100 * 1024 * MiB, { secret, formatOptions: shape, runner: runLocal });
  expect(
    readFileSync(ours)
      .subarray(0, 2 * MiB)
      .equals(readFileSync(theirs).subarray(0, 2 * MiB)),
  ).toBe(true);
  const info = await luksInfo(ours, secret);
  expect(info['cluster-size']).toBe(2 * MiB);
  expect(info['format-specific'].data.encrypt['master-key-iters']).toBe(1000);
  await qemuIo(ours, 0, secret, [
    'write -P 0x21 0 1M',
    'write -P 0x22 60G 100k',
    'read -P 0x21 0 1M',
    'read -P 0x22 60G 100k',
  ]);
  expect(await qemu(['qemu-img', 'check', '--image-opts', chainOpts(ours, 0)], secret)).toMatch(/No errors were found/);

  // Options the writer does not know: qemu-img's file, with its own (timed) iteration counts.
  const other = path.join(dir, 'lazy.qcow2');
  await createQcow2(other, 8 * MiB, { secret, formatOptions: ['lazy_refcounts=on'] });
  expect((await luksInfo(other, secret))['format-specific'].data.encrypt['master-key-iters']).not.toBe(1000);
  await qemuIo(other, 0, secret, ['write -P 0x23 0 1M', 'read -P 0x23 0 1M']);
  expect(luksQcow2Unsupported({ sizeBytes: 1000 })).toMatch(/512-byte sectors/);
  expect(luksQcow2Unsupported({ sizeBytes: MiB, clusterSize: 4096 })).toMatch(/cluster size/);
  expect(luksQcow2Unsupported({ sizeBytes: MiB, backing: { name: 'x'.repeat(1024), format: 'qcow2' } })).toMatch(
    /backing file name/,
  );
}, 60_000);

it('a repository whose full qemu-img made (before this change) restores, takes an incremental on top, and that restores', async () => {
  const keyFile = path.join(dir, 'repository.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const repository = path.join(dir, 'repository');
  const db = path.join(dir, 'state.db');
  const disk = createDisk(path.join(dir, 'disk.qcow2'), 64 * MiB);
  writeDisk(disk, ['write -P 0x61 1M 4M', 'write -P 0x62 40M 2M']);
  const common = {
    version: 1,
    repository: { path: repository, encryption: { keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  };
  const planFile = (name: string, doc: object): string => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...common, name, ...doc }));
    return file;
  };
  const backupPlan = planFile('old-backup', {
    kind: 'incremental',
    vm: { name: 'oldvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
  });
  const run = async (plan: string): Promise<void> => {
    const result = await sendenseRun([plan, '--db', db]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  };
  await run(backupPlan);
  const copies = [keepCopy(disk, path.join(dir, 'copy-0.qcow2'))];

  // The full as sendense-run wrote it before: qemu-img's LUKS header (its own iteration counts),
  // the same data (the manifest speaks of the plaintext only).
  const [full] = await listBackups(db, 'oldvm');
  const fullFile = full!.disks[0]!.file;
  const secret = { passphrase: unlockKeyring(repository, readFileSync(keyFile, 'utf8').trim()).passphrase };
  const old = `${fullFile}.old`;
  await createQcow2(old, 64 * MiB, { secret, runner: runLocal });
  await qemu(
    ['qemu-img', 'convert', '-n', '--image-opts', chainOpts(fullFile, 0), '--target-image-opts', chainOpts(old, 0)],
    secret,
  );
  chmodSync(old, 0o600);
  renameSync(old, fullFile);
  // Its manifest as sendense-run wrote it then: authenticated, naming no LUKS header.
  offerRepositoryKey({ keyFile });
  const { identity: _identity, ...earlier } = await readManifest(manifestPath(fullFile), { withoutMac: true });
  await writeManifest(manifestPath(fullFile), earlier);
  expect((await luksInfo(fullFile, secret))['format-specific'].data.encrypt['master-key-iters']).not.toBe(1000);

  writeDisk(disk, ['write -P 0x63 3M 2M', 'write -z 41M 512k', 'write -P 0x64 60M 1M']);
  await run(backupPlan);
  copies.push(keepCopy(disk, path.join(dir, 'copy-1.qcow2')));
  const backups = await listBackups(db, 'oldvm');
  expect(backups.map((backup) => [backup.type, backup.status])).toEqual([
    ['full', 'complete'],
    ['incremental', 'complete'],
  ]);
  const incrementalFile = backups[1]!.disks[0]!.file;
  expect((await luksInfo(incrementalFile, secret))['format-specific'].data.encrypt['master-key-iters']).toBe(1000);

  await run(planFile('old-verify', { kind: 'verify', verify: { vm: 'oldvm' } }));
  for (const [index, backup] of backups.entries()) {
    await run(
      planFile(`old-restore-${index}`, {
        kind: 'restore',
        vm: { name: 'oldvm' },
        restore: {
          point: backup.id,
          target: { type: 'file', path: path.join(dir, `restored-${index}-{key}.qcow2`), format: 'qcow2' },
          verify: true,
        },
      }),
    );
    expect(differenceBetween(path.join(dir, `restored-${index}-2000.qcow2`), copies[index]!), backup.id).toBe('');
  }
}, 180_000);
