// What the tests of copies to a real radosgw share (docs/copies.md#copies-on-object-storage): a copy
// plan for a bucket, runs with the test user's keys, a VM of two disks backed up round by round,
// fetches, and restores of every point from a fetched copy compared with the disks as they were.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { writeRestorePlan, restoredDifference } from '../restore/restore-plan.js';
import { backupsOf, type PointChain } from '../retention/point-chain.js';
import type { RunWorkspace } from '../support/run-workspace.js';
import type { TestS3 } from '../support/s3-server.js';
import { parseEvents, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../support/vm-disks.js';
import { copyCounts, importedAndVerified, type CopyCounts } from './copy-support.js';

const MiB = 1024 * 1024;

export function s3CopyHelpers(ws: RunWorkspace, server: { readonly s3: TestS3 }, ports: [number, number]) {
  interface S3PlanOptions {
    readonly name: string;
    readonly bucket: string;
    readonly prefix?: string;
    readonly lock?: boolean;
    readonly endpoint?: string;
    /** The lock's mode; none with lock: false. */
    readonly mode?: 'governance' | 'compliance';
    readonly retention?: Record<string, number>;
    /** objectLock's days per keep-* rule (keepLast: 3, ...). */
    readonly lockByRule?: Record<string, number>;
  }

  function writeS3Plan(options: S3PlanOptions): string {
    const doc = {
      version: 1,
      kind: 'copy',
      name: options.name,
      vm: { name: 's3vm' },
      repository: { path: ws.repository },
      copy: {
        to: {
          type: 's3',
          endpoint: options.endpoint ?? server.s3.endpoint,
          bucket: options.bucket,
          ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
          accessKeyIdEnv: 'TEST_S3_KEY_ID',
          secretAccessKeyEnv: 'TEST_S3_SECRET',
          ...(options.lock === false
            ? {}
            : { objectLock: { mode: options.mode ?? 'compliance', days: 1, ...options.lockByRule } }),
        },
        ...(options.retention === undefined ? {} : { retention: options.retention }),
      },
    };
    const file = path.join(ws.dir, `${options.name}.yaml`);
    writeFileSync(file, stringify(doc));
    return file;
  }

  function keys(s3: TestS3, overrides: Record<string, string> = {}): Record<string, string> {
    return { TEST_S3_KEY_ID: s3.accessKeyId, TEST_S3_SECRET: s3.secretAccessKey, ...overrides };
  }

  // `pruned`: what prune-copy said it did.
  async function copyToBucket(
    plan: string,
  ): Promise<CopyCounts & { readonly infos: string[]; readonly pruned?: string }> {
    const result = await sendenseRun([plan, '--db', ws.db, '--json'], keys(server.s3));
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(`${result.stdout}${result.stderr}`).not.toContain(server.s3.secretAccessKey);
    const events = parseEvents(result.stdout);
    const infos = events.flatMap((event) =>
      event.type === 'info' && typeof event.message === 'string' ? [event.message] : [],
    );
    const pruned = events.find((event) => event.type === 'step-done' && event.step === 'prune-copy')?.summary as
      string | undefined;
    return { ...copyCounts(result), infos, ...(pruned !== undefined && { pruned }) };
  }

  // Points of a VM with a small disk and a large one (its full is a multipart upload of 3 parts).
  async function backUp(chain: PointChain | undefined, round: number): Promise<PointChain> {
    const here =
      chain ??
      ({
        vm: 's3vm',
        dir: ws.dir,
        db: ws.db,
        repository: ws.repository,
        ports,
        disks: [
          { key: 2000, path: createDisk(path.join(ws.dir, 'small.qcow2'), 16 * MiB) },
          { key: 2001, path: createDisk(path.join(ws.dir, 'large.qcow2'), 64 * MiB) },
        ],
        ids: [],
        copies: {},
      } satisfies PointChain);
    const [small, large] = here.disks;
    writeDisk(small!.path, [`write -P 0x${(0x21 + round).toString(16)} ${round}M 2M`]);
    writeDisk(
      large!.path,
      round === 0
        ? ['write -P 0x31 0 40M']
        : [`write -P 0x${(0x32 + round).toString(16)} ${round * 5}M 1M`, `write -z ${round * 7}M 64k`],
    );
    const plan = writePlan(ws.dir, {
      name: 's3vm-backup',
      vm: here.vm,
      disks: here.disks,
      repository: ws.repository,
      ports,
    });
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const id = (await backupsOf(here)).at(-1)!.id;
    here.ids.push(id);
    here.copies[id] = Object.fromEntries(
      here.disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `p${round}-${disk.key}.qcow2`))]),
    );
    return here;
  }

  async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (listed.Contents ?? []).map((object) => object.Key!).sort();
  }

  async function uploadsLeft(client: S3Client, bucket: string): Promise<string[]> {
    return ((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map(
      (upload) => upload.Key!,
    );
  }

  // `sendense-run fetch`: the copy's objects (or what one point needs) back into a directory.
  async function fetched(plan: string, dir: string, ...options: string[]): Promise<{ fetched: number; kept: number }> {
    const result = await sendenseRun(['fetch', plan, dir, ...options, '--json'], keys(server.s3));
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    return parseEvents(result.stdout).find((event) => event.type === 'summary') as unknown as {
      fetched: number;
      kept: number;
    };
  }

  async function expectRestoresExactly(chain: PointChain, copyDir: string, name: string): Promise<void> {
    const copyDb = await importedAndVerified(copyDir, path.join(ws.dir, `${name}.db`));
    for (const [index, id] of chain.ids.entries()) {
      const target = path.join(ws.dir, `${name}-${index}-{key}.qcow2`);
      const plan = writeRestorePlan(ws.dir, {
        name: `${name}-${index}`,
        vm: chain.vm,
        repository: copyDir,
        ports,
        point: id,
        target: { type: 'file', path: target, format: 'qcow2' },
      });
      const restored = await sendenseRun([plan, '--db', copyDb]);
      expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      for (const disk of chain.disks) {
        expect(
          restoredDifference(chain.copies[id]![disk.key]!, target.replace('{key}', String(disk.key)), 'qcow2'),
          `point ${index} disk ${disk.key}`,
        ).toBe('');
      }
    }
  }

  return { writeS3Plan, keys, copyToBucket, backUp, listKeys, uploadsLeft, fetched, expectRestoresExactly };
}
