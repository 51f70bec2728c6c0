// Copies to a bucket of a real S3 server (Ceph's radosgw on a one-node cluster the file starts;
// docs/copies.md#copies-on-object-storage), through the real CLI: points sent once each, locked as
// they are written so the hub's own credentials cannot delete them, every key written once, and
// every point restoring exactly once `sendense-run fetch` brought the objects back into a directory
// (all of them, or one point's chain). A kill -9 with
// part of an upload in the store: the next run resumes it; doctor aborts one. Bad credentials, a
// missing bucket, a bucket without object lock: one line each, nothing written. An encrypted
// repository goes up as its LUKS files and keyring, which follows a key added later.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { restoredDifference } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useS3Server } from '../support/s3-server.js';
import { listBackups, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { filesUnder, rows } from './copy-support.js';
import { s3CopyHelpers } from './s3-support.js';
import { killAtEnv } from '../../src/crash-points.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-s3-copy-');
const server = useS3Server();
const { writeS3Plan, keys, copyToBucket, backUp, listKeys, uploadsLeft, fetched, expectRestoresExactly } =
  s3CopyHelpers(ws, server, ports);

describe('a copy to an S3 bucket with object lock (real radosgw)', () => {
  it('sends each point once, locks every object so the hub cannot delete it, and every point restores exactly from the bucket', async () => {
    const { s3 } = server;
    await s3.makeBucket('offsite', { objectLock: true });
    let chain = await backUp(undefined, 0);
    chain = await backUp(chain, 1);
    const plan = writeS3Plan({ name: 's3-offsite', bucket: 'offsite', prefix: 'hub1/copy' });

    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 2, pointsThere: 0, filesSent: 4 });
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 0, pointsThere: 2, filesSent: 0, bytes: 0 });
    chain = await backUp(chain, 2);
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 1, pointsThere: 2, filesSent: 2 });

    // The layout of a repository, under the prefix; no upload left, nothing recorded.
    const objects = await listKeys(s3.client, 'offsite');
    expect(objects).toContain('hub1/copy/.sendense-repository');
    for (const id of chain.ids)
      for (const key of [2000, 2001])
        expect(objects).toEqual(
          expect.arrayContaining([`hub1/copy/s3vm/disk-${key}/${id}.qcow2`, `hub1/copy/s3vm/disk-${key}/${id}.json`]),
        );
    expect(await uploadsLeft(s3.client, 'offsite')).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toEqual([]);

    // Every key written once; every object locked for a day, the multipart ones too.
    const versions = await s3.client.send(new ListObjectVersionsCommand({ Bucket: 'offsite' }));
    expect((versions.Versions ?? []).map((version) => version.Key).sort()).toEqual(objects);
    expect(versions.DeleteMarkers ?? []).toEqual([]);
    for (const key of objects) {
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'offsite', Key: key }));
      expect(head.ObjectLockMode, key).toBe('COMPLIANCE');
      expect(head.ObjectLockRetainUntilDate!.getTime(), key).toBeGreaterThan(Date.now() + 23 * 3600_000);
    }
    const full = `hub1/copy/s3vm/disk-2001/${chain.ids[0]}.qcow2`;
    const { VersionId } = await s3.client.send(new HeadObjectCommand({ Bucket: 'offsite', Key: full }));
    await expect(
      s3.client.send(new DeleteObjectCommand({ Bucket: 'offsite', Key: full, VersionId })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(
      s3.client.send(
        new DeleteObjectCommand({ Bucket: 'offsite', Key: full, VersionId, BypassGovernanceRetention: true }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(await listKeys(s3.client, 'offsite')).toEqual(objects);

    // Fetched back into a directory, the copy is a repository: verify, and every point restores exactly.
    const dir = path.join(ws.dir, 'from-s3');
    expect(await fetched(plan, dir)).toMatchObject({ fetched: objects.length, kept: 0 });
    expect(filesUnder(dir).length).toBe(objects.length);
    expect(await fetched(plan, dir)).toMatchObject({ fetched: 0, kept: objects.length });
    await expectRestoresExactly(chain, dir, 'from-s3');

    // One point: only its chain comes (the full and itself, not the newer point), and it restores exactly.
    const one = path.join(ws.dir, 'one-point');
    await fetched(plan, one, '--vm', 's3vm', '--point', chain.ids[1]!);
    expect(filesUnder(one).filter((file) => file.endsWith('.json'))).toEqual(
      [2000, 2001]
        .flatMap((key) => [`s3vm/disk-${key}/${chain.ids[0]}.json`, `s3vm/disk-${key}/${chain.ids[1]}.json`])
        .sort(),
    );
    await expectRestoresExactly({ ...chain, ids: chain.ids.slice(0, 2) }, one, 'one-point');
    const refused = await sendenseRun(['fetch', plan, path.join(ws.dir, 'repository'), '--json'], keys(s3));
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain('is not empty and is not a fetch of this copy');
  }, 400_000);

  it('a run killed with part of an upload in the store: the next run resumes it, every point exact; doctor aborts one left', async () => {
    const { s3 } = server;
    const chain = await backUp(await backUp(undefined, 0), 1);
    const large = `s3vm/disk-2001/${chain.ids[0]}.qcow2`;
    const killedOn = async (bucket: string): Promise<string> => {
      await s3.makeBucket(bucket, { objectLock: true });
      const plan = writeS3Plan({ name: `s3-${bucket}`, bucket });
      const run = startSendenseRun([plan, '--db', ws.db], { ...keys(s3), ...killAtEnv('copy.part-uploaded') });
      const ended = await run.exited;
      expect(ended.signal, `${ended.stdout}\n${ended.stderr}`).toBe('SIGKILL');
      // Killed with the large full's first part in the store: its upload is left, and recorded.
      expect(await uploadsLeft(s3.client, bucket)).toEqual([large]);
      expect(rows(ws.db, 'node_resources')).toMatchObject([
        { kind: 'copy-partial', name: `s3://${bucket}/${large}.partial` },
      ]);
      return plan;
    };

    // The next run keeps that part, sends the rest; nothing is left, and every point is exact.
    const plan = await killedOn('crash');
    const resumed = await copyToBucket(plan);
    expect(resumed).toMatchObject({ pointsSent: 2, pointsThere: 0 });
    // At least the part that was answered (others in flight may have landed too).
    const kept = new RegExp(
      `${large}: resumed the upload a killed run left \\(([\\d.]+) MiB of its parts were in the store already\\)`,
    ).exec(resumed.infos.join('\n'));
    expect(kept, resumed.infos.join('\n')).not.toBeNull();
    expect(Number(kept![1])).toBeGreaterThanOrEqual(16);
    expect(await uploadsLeft(s3.client, 'crash')).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
    const dir = path.join(ws.dir, 'from-crash');
    await fetched(plan, dir);
    await expectRestoresExactly(chain, dir, 'from-crash');

    // Killed again, on another bucket: doctor needs the plan's credentials, then aborts the upload.
    await killedOn('crash2');
    const withoutKeys = await sendenseRun(['doctor', '--db', ws.db]);
    expect(withoutKeys.stdout + withoutKeys.stderr).toMatch(
      /unfinished upload s3:\/\/crash2\/.*could not reach .*TEST_S3_KEY_ID .*is not set/,
    );
    expect(await uploadsLeft(s3.client, 'crash2')).toEqual([large]);
    const doctor = await sendenseRun(['doctor', '--db', ws.db], keys(s3));
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/unfinished upload s3:\/\/crash2\/.*abort the upload: done/);
    expect(await uploadsLeft(s3.client, 'crash2')).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
  }, 400_000);

  it('bad credentials, a missing bucket or one without object lock, an endpoint not there: one line each, nothing written', async () => {
    const { s3 } = server;
    await s3.makeBucket('plain');
    await backUp(undefined, 0);
    const refused = async (plan: string, env: Record<string, string>, pattern: RegExp) => {
      const result = await sendenseRun([plan, '--db', ws.db], env);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
      expect(
        result.stderr.split('\n').filter((line) => pattern.test(line)),
        result.stderr,
      ).toHaveLength(1);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(result.stdout + result.stderr).not.toContain(s3.secretAccessKey);
    };
    const locked = writeS3Plan({ name: 's3-plain-locked', bucket: 'plain' });
    await refused(
      locked,
      keys(s3, { TEST_S3_SECRET: `${s3.secretAccessKey.slice(0, -4)}wxyz` }),
      /the secret access key is wrong \(SignatureDoesNotMatch\)/,
    );
    await refused(
      locked,
      keys(s3, { TEST_S3_KEY_ID: 'AKIANOSUCHKEY0000000' }),
      /does not know the access key id \(InvalidAccessKeyId\)/,
    );
    await refused(
      locked,
      { TEST_S3_KEY_ID: s3.accessKeyId },
      /the environment variable TEST_S3_SECRET \(copy\.to\) is not set/,
    );
    await refused(
      writeS3Plan({ name: 's3-missing', bucket: 'no-such-bucket' }),
      keys(s3),
      /no-such-bucket .*: cannot open the bucket: the bucket does not exist \(NoSuchBucket\)/,
    );
    await refused(locked, keys(s3), /objectLock is set, but the bucket plain has no object lock/);
    const away = `http://127.0.0.1:${ports[1]}`;
    await refused(
      writeS3Plan({ name: 's3-away', bucket: 'plain', endpoint: away }),
      keys(s3),
      /cannot reach it \(ECONNREFUSED\)/,
    );
    // An endpoint that drops each connection at once is said so, not taken for a store that stopped answering.
    const dropper = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
    try {
      const dropping = `http://127.0.0.1:${(dropper.address() as net.AddressInfo).port}`;
      await refused(
        writeS3Plan({ name: 's3-dropping', bucket: 'plain', endpoint: dropping }),
        keys(s3),
        /cannot open the bucket: it dropped the connection \(ECONNRESET\)/,
      );
    } finally {
      await new Promise((resolve) => dropper.close(resolve));
    }
    expect(await listKeys(s3.client, 'plain')).toEqual([]);

    // Without objectLock, a plain bucket takes the copy.
    expect(await copyToBucket(writeS3Plan({ name: 's3-plain', bucket: 'plain', lock: false }))).toMatchObject({
      pointsSent: 1,
    });

    // A key written in the plan: validate refuses, the value never shown.
    const literal = writeS3Plan({ name: 's3-literal', bucket: 'plain' });
    writeFileSync(
      literal,
      stringify({
        ...(await import('yaml')).parse((await import('node:fs')).readFileSync(literal, 'utf8')),
        copy: {
          to: {
            type: 's3',
            endpoint: away,
            bucket: 'plain',
            accessKeyIdEnv: 'TEST_S3_KEY_ID',
            secretAccessKey: 'sEcReTvAlUe/123',
          },
        },
      }),
    );
    const validated = await sendenseRun(['validate', literal]);
    expect(validated.exitCode, validated.stdout + validated.stderr).toBe(2);
    expect(validated.stdout + validated.stderr).toMatch(
      /copy\.to\.secretAccessKey: an object store's key must not be written in a plan/,
    );
    expect(validated.stdout + validated.stderr).not.toContain('sEcReTvAlUe');
  }, 300_000);

  it('an encrypted repository goes up as its LUKS files and keyring (a key added later follows); restores from the fetch, with either key, are exact', async () => {
    const { s3 } = server;
    await s3.makeBucket('sealed', { objectLock: true });
    const keyFile = path.join(ws.dir, 'repository.key');
    const secondKey = path.join(ws.dir, 'second.key');
    for (const file of [keyFile, secondKey])
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const disk = createDisk(path.join(ws.dir, 'enc.qcow2'), 32 * MiB);
    const yaml = (name: string, doc: object) => {
      const file = path.join(ws.dir, `${name}.yaml`);
      writeFileSync(file, stringify({ version: 1, name, nbd: { ports: `${ports[0]}-${ports[1]}` }, ...doc }));
      return file;
    };
    const encryption = { keyFile };
    const backupPlan = yaml('enc-backup', {
      kind: 'incremental',
      vm: { name: 'encvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
      repository: { path: ws.repository, encryption },
    });
    const copies: string[] = [];
    const backUpEncrypted = async (round: number) => {
      writeDisk(disk, [`write -P 0x${(0x41 + round).toString(16)} ${round * 5}M 3M`]);
      const result = await sendenseRun([backupPlan, '--db', ws.db]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      copies.push(keepCopy(disk, path.join(ws.dir, `enc-${round}.qcow2`)));
    };
    const copyPlan = yaml('enc-s3', {
      kind: 'copy',
      repository: { path: ws.repository, encryption },
      copy: {
        to: {
          type: 's3',
          endpoint: s3.endpoint,
          bucket: 'sealed',
          accessKeyIdEnv: 'TEST_S3_KEY_ID',
          secretAccessKeyEnv: 'TEST_S3_SECRET',
          objectLock: { mode: 'compliance', days: 1 },
        },
      },
    });
    await backUpEncrypted(0);
    expect(await copyToBucket(copyPlan)).toMatchObject({ pointsSent: 1 });
    const added = await sendenseRun(['key', 'add', ws.repository, '--key-file', keyFile, '--new-key-file', secondKey]);
    expect(added.exitCode, `${added.stdout}\n${added.stderr}`).toBe(0);
    await backUpEncrypted(1);
    expect(await copyToBucket(copyPlan)).toMatchObject({ pointsSent: 1, pointsThere: 1 });

    // The keyring is the one key written twice: a second version, the first kept (and locked).
    const versions = await s3.client.send(
      new ListObjectVersionsCommand({ Bucket: 'sealed', Prefix: '.sendense-keys' }),
    );
    expect(versions.Versions ?? []).toHaveLength(2);
    const dir = path.join(ws.dir, 'sealed');
    await fetched(copyPlan, dir);
    expect(readFileSync(path.join(dir, '.sendense-keys'), 'utf8')).toBe(
      readFileSync(path.join(ws.repository, '.sendense-keys'), 'utf8'),
    );
    for (const file of filesUnder(dir)) {
      for (const key of [keyFile, secondKey])
        expect(readFileSync(path.join(dir, file)).includes(Buffer.from(readFileSync(key, 'utf8').trim())), file).toBe(
          false,
        );
      if (file.endsWith('.qcow2'))
        expect(execFileSync('qemu-img', ['info', path.join(dir, file)], { encoding: 'utf8' })).toMatch(
          /^encrypted: yes$/m,
        );
    }

    // From the fetch alone: every point with the first key, the newest with the key added later.
    const copyDb = path.join(ws.dir, 'sealed.db');
    // An encrypted repository's manifests are authenticated under its secret: the import needs a key.
    const imported = await sendenseRun(['catalog', 'import', dir, '--db', copyDb, '--key-file', keyFile]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const points = (await listBackups(copyDb, 'encvm')).map((backup) => backup.id);
    expect(points).toHaveLength(2);
    const restores = [
      { index: 0, key: keyFile },
      { index: 1, key: keyFile },
      { index: 1, key: secondKey },
    ];
    for (const { index, key } of restores) {
      const name = `enc-restore-${index}-${path.basename(key, '.key')}`;
      const target = path.join(ws.dir, `${name}-{key}.qcow2`);
      const plan = yaml(name, {
        kind: 'restore',
        vm: { name: 'encvm' },
        repository: { path: dir, encryption: { keyFile: key } },
        restore: { point: points[index], target: { type: 'file', path: target, format: 'qcow2' } },
      });
      const restored = await sendenseRun([plan, '--db', copyDb]);
      expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      expect(restoredDifference(copies[index]!, target.replace('{key}', '2000'), 'qcow2'), name).toBe('');
    }
  }, 300_000);
});
