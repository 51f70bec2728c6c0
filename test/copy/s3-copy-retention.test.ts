// A copy's own retention in a bucket of a real S3 server (Ceph's radosgw; docs/copies.md#retention-in-a-bucket),
// through the real CLI: the points copy.retention does not keep are merged on the hub and the
// merged files put back as new objects; nothing locked is deleted (a delete of a locked version
// fails), what no lock holds is deleted once nothing reads it; a point merged away is never sent
// again; a merge killed half-way is finished by doctor; a point protected on the hub is kept. After each, every point the copy keeps
// restores exactly from a fetch of the bucket.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useS3Server } from '../support/s3-server.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import type { PointChain } from '../retention/point-chain.js';
import { rows } from './copy-support.js';
import { s3CopyHelpers } from './s3-support.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-s3-retention-');
const server = useS3Server();
const { writeS3Plan, keys, copyToBucket, backUp, listKeys, fetched, expectRestoresExactly } = s3CopyHelpers(
  ws,
  server,
  ports,
);

// The points in the bucket: the ids with a manifest of the first disk, sorted as text.
async function pointsIn(client: S3Client, bucket: string): Promise<string[]> {
  return (await listKeys(client, bucket, 's3vm/disk-2000/'))
    .filter((key) => key.endsWith('.json'))
    .map((key) => path.posix.basename(key, '.json'))
    .sort();
}

async function versionsOf(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ versions: { key: string; id: string; latest: boolean }[]; markers: string[] }> {
  const listed = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  return {
    versions: (listed.Versions ?? []).map((version) => ({
      key: version.Key!,
      id: version.VersionId!,
      latest: version.IsLatest === true,
    })),
    markers: (listed.DeleteMarkers ?? []).map((marker) => marker.Key!),
  };
}

// Fetched into a new directory, every point the copy keeps restores exactly.
async function expectKeptExact(chain: PointChain, plan: string, kept: readonly string[], label: string): Promise<void> {
  const dir = path.join(ws.dir, `fetch-${label}`);
  await fetched(plan, dir);
  await expectRestoresExactly({ ...chain, ids: [...kept] }, dir, label);
}

async function backUpRounds(rounds: number): Promise<PointChain> {
  let chain = await backUp(undefined, 0);
  for (let round = 1; round < rounds; round++) chain = await backUp(chain, round);
  return chain;
}

describe('a copy with its own retention in an S3 bucket (real radosgw)', () => {
  it('with object lock: merges put new objects, the locked versions stay and cannot be deleted, nothing merged is sent again, every kept point is exact', async () => {
    const { s3 } = server;
    await s3.makeBucket('kept', { objectLock: true });
    const chain = await backUpRounds(4);
    const ids = [...chain.ids];
    // The points keepLast keeps are locked 3 days, not 1 (objectLock.keepLast).
    const plan = writeS3Plan({
      name: 's3-kept',
      bucket: 'kept',
      mode: 'governance',
      retention: { keepLast: 2 },
      lockByRule: { keepLast: 3 },
    });

    const first = await copyToBucket(plan);
    expect(first).toMatchObject({ pointsSent: 4 });
    expect(first.infos).toContain(
      "s3vm: the locks of 8 objects of 2 points extended, as objectLock's keep-* rules ask",
    );
    expect(first.pruned).toMatch(
      /^2 points merged, 0 removed, 2 points kept on the copy; \d+ old versions? deleted \(.*\), \d+ held by object lock \(.* MiB, the first until \d{4}-\d\d-\d\d\)$/,
    );
    expect(await pointsIn(s3.client, 'kept')).toEqual([ids[2], ids[3]].sort());
    const pruned = await s3.client.send(new GetObjectCommand({ Bucket: 'kept', Key: 's3vm/.sendense-pruned' }));
    expect((await pruned.Body!.transformToString()).split('\n').filter(Boolean)).toEqual([
      `${ids[0]} ${ids[1]}`,
      `${ids[1]} ${ids[2]}`,
    ]);

    // The full merged away: hidden behind a delete marker, its version kept, locked; the hub's own
    // credentials cannot delete it. The point it went into: a new version, locked too.
    const full = `s3vm/disk-2001/${ids[0]}.qcow2`;
    const { versions, markers } = await versionsOf(s3.client, 'kept', full);
    expect(markers).toEqual([full]);
    expect(versions).toHaveLength(1);
    await expect(
      s3.client.send(new DeleteObjectCommand({ Bucket: 'kept', Key: full, VersionId: versions[0]!.id })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    const merged = `s3vm/disk-2001/${ids[2]}.qcow2`;
    expect((await versionsOf(s3.client, 'kept', merged)).versions.length).toBeGreaterThanOrEqual(2);
    const { ObjectLockRetainUntilDate: fullUntil } = await s3.client.send(
      new HeadObjectCommand({ Bucket: 'kept', Key: full, VersionId: versions[0]!.id }),
    );
    expect(fullUntil!.getTime()).toBeLessThan(Date.now() + 1.1 * 86_400_000);
    for (const key of await listKeys(s3.client, 'kept')) {
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'kept', Key: key }));
      expect(head.ObjectLockMode, key).toBe('GOVERNANCE');
      // A kept point's files and manifests: 3 days; the copy's marker and pruned list: 1.
      const kept = [ids[2], ids[3]].some((id) => key.includes(`/${id}.`));
      expect(head.ObjectLockRetainUntilDate!.getTime() > Date.now() + 2.9 * 86_400_000, key).toBe(kept);
    }
    await expectKeptExact(chain, plan, [ids[2]!, ids[3]!], 'kept-1');

    // Nothing merged away is sent again; a new point is, and the copy's rules merge the next one.
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 0, pointsThere: 2 });
    await backUp(chain, 4);
    const later = await copyToBucket(plan);
    expect(later).toMatchObject({ pointsSent: 1, pointsThere: 2 });
    expect(later.pruned).toMatch(/^1 point merged, 0 removed, 2 points kept on the copy/);
    expect(await pointsIn(s3.client, 'kept')).toEqual([chain.ids[3], chain.ids[4]].sort());
    await expectKeptExact(chain, plan, [chain.ids[3]!, chain.ids[4]!], 'kept-2');
    expect(rows(ws.db, 'node_resources')).toEqual([]);
    expect(existsSync(path.join(ws.repository, '.sendense-copy-work'))).toBe(false);
  }, 600_000);

  it('without object lock: what no point reads any more is deleted at once, old versions of a versioned bucket too', async () => {
    const { s3 } = server;
    const chain = await backUpRounds(3);
    for (const bucket of ['plain', 'versioned']) {
      await s3.makeBucket(bucket, { versioning: bucket === 'versioned' });
      const plan = writeS3Plan({ name: `s3-${bucket}`, bucket, lock: false, retention: { keepLast: 1 } });
      const copied = await copyToBucket(plan);
      expect(copied).toMatchObject({ pointsSent: 3 });
      expect(copied.pruned).toMatch(/^2 points merged, 0 removed, 1 point kept on the copy; \d+ old versions? deleted/);
      if (bucket === 'versioned') expect(copied.pruned).toMatch(/; [1-9]\d* old versions deleted \([1-9]/);
      expect(copied.pruned).not.toContain('held');
      expect(await pointsIn(s3.client, bucket)).toEqual([chain.ids[2]]);
      // Not a byte of the merged points left, in any version; no delete marker either.
      const { versions, markers } = await versionsOf(s3.client, bucket, 's3vm/');
      expect(markers, bucket).toEqual([]);
      expect(
        versions.filter(
          (version) => !version.latest || chain.ids.slice(0, 2).some((id) => version.key.includes(`/${id}.`)),
        ),
        bucket,
      ).toEqual([]);
      await expectKeptExact(chain, plan, [chain.ids[2]!], bucket);
    }
  }, 600_000);

  it('a point protected on the hub is kept in the bucket by copy.retention; unprotected there, the next run merges it', async () => {
    const { s3 } = server;
    await s3.makeBucket('protected');
    const chain = await backUpRounds(3);
    const [p0, p1, p2] = chain.ids as [string, string, string];
    const marked = await sendenseRun(['protect', chain.vm, '--point', p1, '--db', ws.db]);
    expect(marked.exitCode, `${marked.stdout}\n${marked.stderr}`).toBe(0);
    const plan = writeS3Plan({ name: 's3-protected', bucket: 'protected', lock: false, retention: { keepLast: 1 } });
    const copied = await copyToBucket(plan);
    expect(copied).toMatchObject({ pointsSent: 3 });
    expect(copied.pruned).toMatch(/^nothing to merge; 3 points kept on the copy/);
    expect(await pointsIn(s3.client, 'protected')).toEqual([p0, p1, p2].sort());
    await expectKeptExact(chain, plan, [p0, p1, p2], 'protected');
    const unmarked = await sendenseRun(['unprotect', chain.vm, '--point', p1, '--db', ws.db]);
    expect(unmarked.exitCode, `${unmarked.stdout}\n${unmarked.stderr}`).toBe(0);
    expect((await copyToBucket(plan)).pruned).toMatch(/^2 points merged, 0 removed, 1 point kept on the copy/);
    expect(await pointsIn(s3.client, 'protected')).toEqual([p2]);
    await expectKeptExact(chain, plan, [p2], 'unprotected');
  }, 600_000);

  // Killed with the first disk's merged file put but not its manifest (the next run finishes the
  // merge), and with one disk of two merged (doctor does, with the plan's keys).
  it.each([
    ['copy.merge-file', 'the next run'],
    ['copy.merge-disk', 'doctor'],
  ] as const)(
    'a merge killed at %s: %s finishes it, and every kept point is exact',
    async (moment, finisher) => {
      const { s3 } = server;
      const bucket = moment.replace(/^copy\.merge-/, 'crash-');
      await s3.makeBucket(bucket, { objectLock: true });
      const chain = await backUpRounds(3);
      const plan = writeS3Plan({ name: `s3-${bucket}`, bucket, retention: { keepLast: 2 } });
      const run = startSendenseRun([plan, '--db', ws.db], { ...keys(s3), ...killAtEnv(moment) });
      const ended = await run.exited;
      expect(ended.signal, `${ended.stdout}\n${ended.stderr}`).toBe('SIGKILL');
      // The journal is in the bucket, and recorded here with the scratch directory on the hub.
      expect(await listKeys(s3.client, bucket, 's3vm/.sendense-merge')).toEqual(['s3vm/.sendense-merge']);
      expect(rows(ws.db, 'node_resources').map((row) => (row as { kind: string }).kind)).toContain('copy-merge');

      if (finisher === 'doctor') {
        const without = await sendenseRun(['doctor', '--db', ws.db]);
        expect(without.stdout + without.stderr).toMatch(
          /could not reach .*crash-disk.*run doctor again with the plan's credentials/,
        );
        const doctor = await sendenseRun(['doctor', '--db', ws.db], keys(s3));
        expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
        expect(rows(ws.db, 'node_resources')).toEqual([]);
        expect(readdirSync(ws.repository)).not.toContain('.sendense-copy-work');
      } else {
        const next = await copyToBucket(plan);
        expect(next.infos.join('\n')).toContain(
          `a merge left on the copy is finished: ${chain.ids[0]} merged into ${chain.ids[1]}`,
        );
        expect(next).toMatchObject({ pointsSent: 0, pointsThere: 2 });
      }
      expect(await listKeys(s3.client, bucket, 's3vm/.sendense-merge')).toEqual([]);
      expect((await listKeys(s3.client, bucket)).filter((key) => key.endsWith('.merge'))).toEqual([]);
      expect(await pointsIn(s3.client, bucket)).toEqual([chain.ids[1], chain.ids[2]].sort());
      await expectKeptExact(chain, plan, [chain.ids[1]!, chain.ids[2]!], bucket);
      const again = await copyToBucket(plan);
      expect(again).toMatchObject({ pointsSent: 0, pointsThere: 2 });
      expect(again.pruned).toMatch(/^nothing to merge; 2 points kept on the copy/);
    },
    600_000,
  );
});
