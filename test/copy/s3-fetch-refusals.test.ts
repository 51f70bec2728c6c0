// What `fetch` (and `fetch --lazy`) does with a bucket someone else wrote (real radosgw;
// docs/copies.md#what-fetch-refuses): a key that names no file inside DIR (`..`, an absolute key,
// an empty segment, a backslash) is refused before anything is written, and a symlink already in
// DIR is never followed out of it. An object another tool put in another part layout (one PUT of a
// large file, 5 MiB parts) is fetched once its manifest's digests check it, and restores exactly; the
// same layout with one byte changed is refused.

import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useS3Server } from '../support/s3-server.js';
import { startSendenseRun, type CliResult, type RunningCli } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { filesUnder } from './copy-support.js';
import { s3CopyHelpers } from './s3-support.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-s3-fetch-');
const server = useS3Server();
const { writeS3Plan, keys, copyToBucket, backUp, fetched, expectRestoresExactly } = s3CopyHelpers(ws, server, ports);

// Views a test left running (it failed: a refusal that did not come): stopped after it.
const running: RunningCli[] = [];
afterEach(async () => {
  for (const run of running.splice(0)) {
    process.kill(run.pid, 'SIGTERM');
    await run.exited;
  }
});

async function fetchOnce(plan: string, dir: string, ...options: string[]): Promise<CliResult> {
  const run = startSendenseRun(['fetch', plan, dir, ...options], keys(server.s3));
  running.push(run);
  const ended = await run.exited;
  running.splice(running.indexOf(run), 1);
  return { ...ended, exitCode: ended.exitCode ?? -1 };
}

// One line on stderr naming what was refused, no stack, exit 1.
function expectRefused(result: CliResult, what: string): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toContain(what);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

// Every entry under the test's folder but those under `inside` (the fetch's own directory).
function outside(inside: string): string[] {
  return filesUnder(ws.dir)
    .map((file) => path.join(ws.dir, file))
    .filter((file) => !file.startsWith(`${inside}/`))
    .sort();
}

async function objectBytes(key: string): Promise<Buffer> {
  const answer = await server.s3.client.send(new GetObjectCommand({ Bucket: 'layout', Key: key }));
  return Buffer.from(await answer.Body!.transformToByteArray());
}

async function putInParts(key: string, body: Buffer, partSize: number): Promise<void> {
  const { client } = server.s3;
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'layout', Key: key }));
  const parts = [];
  for (let at = 0, number = 1; at < body.length; at += partSize, number++) {
    const { ETag } = await client.send(
      new UploadPartCommand({
        Bucket: 'layout',
        Key: key,
        UploadId,
        PartNumber: number,
        Body: body.subarray(at, at + partSize),
      }),
    );
    parts.push({ ETag, PartNumber: number });
  }
  await client.send(
    new CompleteMultipartUploadCommand({ Bucket: 'layout', Key: key, UploadId, MultipartUpload: { Parts: parts } }),
  );
}

describe('fetch from a bucket someone else wrote (real radosgw)', () => {
  it('a key that climbs out of DIR, or a symlink in DIR, is refused by fetch and fetch --lazy: nothing written outside', async () => {
    const { s3 } = server;
    await s3.makeBucket('hostile');
    const chain = await backUp(undefined, 0);
    const [id] = chain.ids as [string];
    const plan = writeS3Plan({ name: 's3-hostile', bucket: 'hostile', lock: false });
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 1 });

    const planted = [
      's3vm/disk-2000/../../../escaped.json',
      's3vm/disk-2000/../../../escaped.qcow2',
      '/escaped-absolute.json',
      's3vm/disk-2000//escaped.json',
      's3vm\\..\\..\\escaped.json',
    ];
    for (const [index, key] of planted.entries()) {
      await s3.client.send(new PutObjectCommand({ Bucket: 'hostile', Key: key, Body: 'planted' }));
      for (const lazy of [[], ['--lazy']]) {
        const dir = path.join(ws.dir, `fetch-${index}${lazy.length > 0 ? '-lazy' : ''}`);
        const before = outside(dir);
        expectRefused(
          await fetchOnce(plan, dir, ...lazy),
          `the key ${JSON.stringify(key)} names no file inside the directory`,
        );
        expect(outside(dir), key).toEqual(before);
        expect(existsSync(dir), key).toBe(false);
      }
      await s3.client.send(new DeleteObjectCommand({ Bucket: 'hostile', Key: key }));
    }

    // A fetch, then a symlink out of DIR where one of its folders was: fetch again and --lazy write nothing through it.
    const dir = path.join(ws.dir, 'fetched');
    await fetched(plan, dir);
    const elsewhere = path.join(ws.dir, 'elsewhere');
    mkdirSync(elsewhere);
    const disk = path.join(dir, 's3vm', 'disk-2000');
    renameSync(disk, `${disk}.moved`);
    symlinkSync(elsewhere, disk);
    for (const lazy of [[], ['--lazy']]) {
      expectRefused(await fetchOnce(plan, dir, ...lazy), `${disk} is a symlink`);
      expect(readdirSync(elsewhere)).toEqual([]);
    }
    rmSync(disk);
    renameSync(`${disk}.moved`, disk);

    // A symlink in place of a file, and in place of a file's .partial: nothing written through either.
    const victim = path.join(ws.dir, 'victim');
    writeFileSync(victim, 'precious');
    const manifest = path.join(disk, `${id}.json`);
    rmSync(manifest);
    symlinkSync(victim, manifest);
    expectRefused(await fetchOnce(plan, dir), `${manifest} is a symlink`);
    expect(readFileSync(victim).equals(Buffer.from('precious')), 'the file the symlink points at is unchanged').toBe(
      true,
    );
    rmSync(manifest);
    const large = path.join(dir, 's3vm', 'disk-2001', `${id}.qcow2`);
    rmSync(large);
    symlinkSync(victim, `${large}.partial`);
    await fetched(plan, dir);
    expect(readFileSync(victim).equals(Buffer.from('precious')), 'the file the symlink points at is unchanged').toBe(
      true,
    );
    expect(lstatSync(large).isFile()).toBe(true);
    expect(existsSync(`${large}.partial`)).toBe(false);
    await expectRestoresExactly(chain, dir, 'after-symlinks');
  }, 600_000);

  it('a chain whose manifests come back to a point they passed is refused by fetch and fetch --lazy, not walked for ever', async () => {
    const { s3 } = server;
    await s3.makeBucket('looping');
    const chain = await backUp(await backUp(undefined, 0), 1);
    const plan = writeS3Plan({ name: 's3-looping', bucket: 'looping', lock: false });
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 2 });
    const newest = chain.ids[1]!;
    const key = `s3vm/disk-2000/${newest}.json`;
    const answer = await s3.client.send(new GetObjectCommand({ Bucket: 'looping', Key: key }));
    const manifest = JSON.parse(Buffer.from(await answer.Body!.transformToByteArray()).toString('utf8')) as Record<
      string,
      unknown
    >;
    // Its parent is itself: a manifest of the right shape, in the right place, that names its own id.
    const looping = { ...manifest, parentId: newest, parentFile: `${newest}.qcow2` };
    await s3.client.send(new PutObjectCommand({ Bucket: 'looping', Key: key, Body: `${JSON.stringify(looping)}\n` }));
    for (const lazy of [[], ['--lazy']]) {
      const dir = path.join(ws.dir, `looping${lazy.length > 0 ? '-lazy' : ''}`);
      expectRefused(
        await fetchOnce(plan, dir, '--vm', 's3vm', '--point', newest, ...lazy),
        `the chain of point ${newest} in s3vm/disk-2000 comes back to ${newest}: not fetched`,
      );
    }
  }, 600_000);

  it('an object put again in another part layout is fetched and restores exactly; one byte changed in it is refused', async () => {
    const { s3 } = server;
    await s3.makeBucket('layout');
    const chain = await backUp(await backUp(undefined, 0), 1);
    const plan = writeS3Plan({ name: 's3-layout', bucket: 'layout', lock: false });
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 2 });
    const key = `s3vm/disk-2001/${chain.ids[0]}.qcow2`;
    const body = await objectBytes(key);
    expect(body.length).toBeGreaterThan(16 * MiB);

    // One PUT (a plain MD5 ETag), then 5 MiB parts (an ETag of another part count): each fetched, every point exact.
    await s3.client.send(new PutObjectCommand({ Bucket: 'layout', Key: key, Body: body }));
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: 'layout', Key: key }))).ETag).not.toContain('-');
    await fetched(plan, path.join(ws.dir, 'single'));
    await expectRestoresExactly(chain, path.join(ws.dir, 'single'), 'single');
    await putInParts(key, body, 5 * MiB);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: 'layout', Key: key }))).ETag).toMatch(/-\d+"?$/);
    await fetched(plan, path.join(ws.dir, 'parts'));
    await expectRestoresExactly(chain, path.join(ws.dir, 'parts'), 'parts');

    // One byte of the guest's data changed, put in one PUT: its ETag is its own, its manifest says otherwise.
    const changed = Buffer.from(body);
    const data = changed.indexOf(Buffer.alloc(64 * 1024, 0x31), 2 * MiB);
    expect(data).toBeGreaterThan(0);
    changed[data + 100] = 0x30;
    await s3.client.send(new PutObjectCommand({ Bucket: 'layout', Key: key, Body: changed }));
    const dir = path.join(ws.dir, 'changed');
    expectRefused(await fetchOnce(plan, dir), `${chain.ids[0]}.qcow2 differs from its manifest`);
    expect(
      filesUnder(dir).filter((file) => file.startsWith('s3vm/disk-2001/') && file.includes(`${chain.ids[0]}.qcow2`)),
    ).toEqual([]);
  }, 600_000);
});
