// Reading a copy straight from its bucket (real radosgw; docs/copies.md#reading-straight-from-a-bucket):
// `sendense-run fetch COPY-PLAN DIR --lazy` brings only the small files, and DIR is a repository
// whose backup files are read from the bucket as they are read. catalog import, verify and restore
// plans read it as any repository, and every point restores exactly; the files' bytes are never
// written to the hub's disk. Ctrl+C (SIGTERM) closes it: nothing left mounted, no process left.
// A kill -9 of the command takes its qemu-storage-daemon with it; the private directory of its NBD
// socket, left behind, goes with the next view once it is a minute old.

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useS3Server } from '../support/s3-server.js';
import { sendenseRun, startSendenseRun, type RunningCli } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { filesUnder } from './copy-support.js';
import { asNobody } from '../support/other-user-cli.js';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { s3CopyHelpers } from './s3-support.js';
import { BLOCK, bucketBlocks, pinObject, sdkRangeGet, type RangeGet } from '../../src/copy/s3/bucket-blocks.js';
import { plainHttpRanges } from '../../src/copy/s3/plain-http-ranges.js';
import { qcow2ImageOpts } from '../../src/qemu/image-opts.js';
import { viewExportOf } from '../../src/repository/view-export.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-s3-lazy-');
const server = useS3Server();
const { writeS3Plan, keys, copyToBucket, backUp, expectRestoresExactly } = s3CopyHelpers(ws, server, ports);

// The FUSE files mounted under `dir` now.
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${dir}/`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// The daemon the command started: its child (setpriv execs qemu-storage-daemon in place).
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// Views a test left open (it failed): closed after it, before its workspace goes; and the socket
// directory a killed view left, if the test failed before the next view removed it.
const open: RunningCli[] = [];
const readers: { close(): void }[] = [];
const leftDirs: string[] = [];
const mounted: string[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) reader.close();
  for (const run of open.splice(0)) {
    process.kill(run.pid, 'SIGTERM');
    await run.exited;
  }
  for (const dir of leftDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  // Last, and detached if still busy (a failing restore into it): nothing above is skipped for it.
  for (const dir of mounted.splice(0)) execFileSync('umount', ['--lazy', dir]);
});

async function openView(plan: string, dir: string, ...options: string[]): Promise<{ run: RunningCli; daemon: number }> {
  const run = startSendenseRun(['fetch', plan, dir, '--lazy', ...options], keys(server.s3));
  open.push(run);
  await run.waitForEvent((event) => event.type === 'view');
  const [daemon] = childrenOf(run.pid);
  expect(daemon).toBeDefined();
  expect(readFileSync(`/proc/${daemon}/cmdline`, 'utf8')).not.toContain(server.s3.secretAccessKey);
  // Nor in its environment, readable while it runs (docs/copies.md): the command had it, its daemon not.
  expect(readFileSync(`/proc/${run.pid}/environ`, 'utf8').split('\0')).toContain(
    `TEST_S3_SECRET=${server.s3.secretAccessKey}`,
  );
  const environ = readFileSync(`/proc/${daemon}/environ`, 'utf8');
  expect(environ).not.toContain(server.s3.secretAccessKey);
  expect(environ.split('\0').map((entry) => entry.split('=')[0])).not.toContain('TEST_S3_SECRET');
  return { run, daemon: daemon! };
}

describe('a copy read straight from its bucket (fetch --lazy, real radosgw)', () => {
  it('DIR is a repository read from the bucket: import, verify, every point restores exactly; Ctrl+C leaves nothing', async () => {
    await server.s3.makeBucket('lazy', { objectLock: true });
    const chain = await backUp(await backUp(await backUp(undefined, 0), 1), 2);
    const plan = writeS3Plan({ name: 's3-lazy', bucket: 'lazy' });
    expect(await copyToBucket(plan)).toMatchObject({ pointsSent: 3 });

    const dir = path.join(ws.dir, 'view');
    const { run, daemon } = await openView(plan, dir);
    const backupFiles = filesUnder(dir).filter((file) => file.endsWith('.qcow2'));
    expect(backupFiles).toHaveLength(6);
    expect(mountsUnder(dir).sort()).toEqual(backupFiles.map((file) => path.join(dir, file)).sort());
    // The files read as the objects' sizes; nothing of them is on the hub's disk.
    const large = path.join(dir, 's3vm', 'disk-2001', `${chain.ids[0]}.qcow2`);
    expect(statSync(large).size).toBe(
      statSync(path.join(ws.repository, 's3vm', 'disk-2001', `${chain.ids[0]}.qcow2`)).size,
    );
    await expectRestoresExactly(chain, dir, 'lazy');
    // Those restores wrote their targets past the page cache (O_DIRECT, docs/copies.md); a
    // filesystem that refuses O_DIRECT (ramfs) gets the newest point through the page cache, exactly.
    if (process.getuid?.() === 0) {
      const ramfs = path.join(ws.dir, 'ramfs');
      mkdirSync(ramfs);
      execFileSync('mount', ['-t', 'ramfs', 'ramfs', ramfs]);
      mounted.push(ramfs);
      const target = path.join(ramfs, 'newest-{key}.raw');
      const restored = await sendenseRun([
        writeRestorePlan(ws.dir, {
          name: 'lazy-ramfs',
          vm: chain.vm,
          repository: dir,
          ports,
          point: chain.ids[2]!,
          target: { type: 'file', path: target, format: 'raw' },
        }),
        '--db',
        path.join(ws.dir, 'lazy.db'),
      ]);
      expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      for (const disk of chain.disks) {
        const file = target.replace('{key}', String(disk.key));
        expect(restoredDifference(chain.copies[chain.ids[2]!]![disk.key]!, file, 'raw'), `disk ${disk.key}`).toBe('');
      }
    }
    // The daemon reads from a socket in a directory only its owner can enter.
    const socket = /server\.path=([^,\0]+)/.exec(readFileSync(`/proc/${daemon}/cmdline`, 'utf8'))![1]!;
    expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
    // Its owner gets in; another local user (nobody) does not.
    const size = ['nbdinfo', '--size', `nbd+unix:///s3vm/disk-2001/${chain.ids[0]}.qcow2?socket=${socket}`];
    const owner = spawnSync(size[0]!, size.slice(1), { encoding: 'utf8' });
    expect(owner.stdout.trim(), owner.stderr).toBe(String(statSync(large).size));
    const intruder = spawnSync('setpriv', asNobody(size), { encoding: 'utf8' });
    expect(intruder.status, intruder.stdout).not.toBe(0);
    expect(intruder.stderr).toMatch(/Permission denied/);
    // The restores above read each point's newest layer straight from that socket, not its FUSE
    // file (view-export.ts); the layer below it is named outright, as a file.
    const layer = (index: number) => path.join(dir, 's3vm', 'disk-2001', `${chain.ids[index]}.qcow2`);
    const { opts } = qcow2ImageOpts(layer(2));
    expect(opts).toContain(
      `file.driver=nbd,file.server.type=unix,file.server.path=${socket},file.export=s3vm/disk-2001/${chain.ids[2]}.qcow2`,
    );
    expect(opts).toContain(`backing.file.driver=file,backing.file.filename=${layer(1)}`);
    expect(statSync(path.join(dir, '.sendense-view')).mode & 0o777).toBe(0o600);

    open.splice(open.indexOf(run), 1);
    process.kill(run.pid, 'SIGTERM');
    const ended = await run.exited;
    expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).toBe(0);
    expect(ended.stdout).toMatch(/"type":"view-closed".*"requests":[1-9]/);
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(socket)).toBe(false);
    expect(alive(daemon)).toBe(false);
    expect(existsSync(path.join(dir, '.sendense-view'))).toBe(false);
  }, 600_000);

  // A view reads its blocks with the SDK, or from an http:// endpoint with its own GETs
  // (plain-http-ranges.ts): both the same, against the same store.
  for (const [reader, suffix] of [
    ['the SDK', 'sdk'],
    ['plain HTTP', 'plain'],
  ] as const) {
    const rangeGet = (bucket: string): RangeGet => {
      if (reader === 'the SDK') return sdkRangeGet(server.s3.client, bucket);
      const plain = plainHttpRanges(server.s3.endpoint, 'us-east-1', bucket, server.s3)!;
      readers.push(plain);
      return plain.get;
    };
    it(`a view's read-ahead stays within its bound: two objects read in order side by side come back exactly, each block read once (${reader})`, async () => {
      const bucket = `ahead-${suffix}`;
      await server.s3.makeBucket(bucket, {});
      const objects = [
        { name: 'a.qcow2', bytes: randomBytes(10 * BLOCK + 12345) },
        { name: 'b.qcow2', bytes: randomBytes(6 * BLOCK) },
      ];
      for (const { name, bytes } of objects)
        await server.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: name, Body: bytes }));
      // 8 MiB of read-ahead: 2 blocks ahead of each object, at most 2 x 2 + 8 blocks held.
      const blocks = bucketBlocks(rangeGet(bucket), 2 * BLOCK);
      expect(blocks.keptBlocks).toBe(12);
      const read = objects.map(() => [] as Buffer[]);
      const READ = 128 * 1024;
      let most = 0;
      for (let offset = 0; offset < objects[0]!.bytes.length; offset += READ)
        for (const [index, { name, bytes }] of objects.entries()) {
          if (offset >= bytes.length) continue;
          const length = Math.min(READ, bytes.length - offset);
          const got = await blocks.read(name, { key: name, size: bytes.length }, offset, length);
          read[index]!.push(Buffer.concat(got.slices));
          got.release();
          most = Math.max(most, blocks.held());
        }
      for (const [index, { bytes }] of objects.entries()) expect(Buffer.concat(read[index]!).equals(bytes)).toBe(true);
      expect(most).toBeLessThanOrEqual(blocks.keptBlocks);
      expect(blocks.served()).toEqual({ requests: 11 + 6, bytes: objects[0]!.bytes.length + objects[1]!.bytes.length });
    }, 300_000);

    it(`reads at any offset and length, across blocks and the pieces each GET came in, come back exactly (${reader})`, async () => {
      const bucket = `anywhere-${suffix}`;
      await server.s3.makeBucket(bucket, {});
      const bytes = randomBytes(5 * BLOCK + 4321);
      await server.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layer.qcow2', Body: bytes }));
      const object = { key: 'layer.qcow2', size: bytes.length };
      const blocks = bucketBlocks(rangeGet(bucket), BLOCK);
      // Edges: a whole block, one byte either side of a block's end, the object's last byte, a read
      // over three blocks; then reads anywhere, each a byte to 9 MiB long.
      const reads: [number, number][] = [
        [0, BLOCK],
        [BLOCK - 1, 2],
        [2 * BLOCK - 7, BLOCK + 14],
        [bytes.length - 1, 1],
        [BLOCK / 2, 2 * BLOCK + 3],
      ];
      for (let count = 0; count < 40; count++) {
        const offset = randomInt(bytes.length);
        reads.push([offset, 1 + randomInt(Math.min(9 * 1024 * 1024, bytes.length - offset))]);
      }
      for (const [offset, length] of reads) {
        const { slices, release } = await blocks.read('layer', object, offset, length);
        expect(slices.every((slice) => slice.length > 0)).toBe(true);
        expect(Buffer.concat(slices).equals(bytes.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
        release();
      }
    }, 300_000);

    it(`a block's buffer is filled again only once no read holds it: slices held while the rest is read stay exact (${reader})`, async () => {
      const bucket = `reused-${suffix}`;
      await server.s3.makeBucket(bucket, {});
      const bytes = randomBytes(16 * BLOCK);
      await server.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layer.qcow2', Body: bytes }));
      const object = { key: 'layer.qcow2', size: bytes.length };
      // 10 blocks kept: reading 16 in order sends blocks out of the kept ones and their buffers back.
      const blocks = bucketBlocks(rangeGet(bucket), BLOCK);
      const held = await blocks.read('layer', object, 1000, BLOCK);
      for (let offset = BLOCK + 1000; offset < bytes.length; offset += 512 * 1024) {
        const length = Math.min(512 * 1024, bytes.length - offset);
        const { slices, release } = await blocks.read('layer', object, offset, length);
        expect(Buffer.concat(slices).equals(bytes.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
        release();
      }
      // Its blocks left the kept ones long ago, their buffers' turn past: the held slices are as they came.
      expect(Buffer.concat(held.slices).equals(bytes.subarray(1000, 1000 + BLOCK))).toBe(true);
      held.release();
      // Read again, from the start: each block's bytes, whichever buffer they came into.
      for (let offset = 0; offset < bytes.length; offset += BLOCK) {
        const { slices, release } = await blocks.read('layer', object, offset, BLOCK);
        expect(Buffer.concat(slices).equals(bytes.subarray(offset, offset + BLOCK)), `${offset}`).toBe(true);
        release();
      }
    }, 300_000);

    it(`an object put again under its key while a view reads it, in a bucket without versions: its reads fail, never another object's bytes (${reader})`, async () => {
      const bucket = `rewritten-${suffix}`;
      await server.s3.makeBucket(bucket, {});
      const [before, after] = [randomBytes(6 * BLOCK), randomBytes(6 * BLOCK)];
      const put = (bytes: Buffer) =>
        server.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'layer.qcow2', Body: bytes }));
      await put(before);
      // Pinned as a view pins each file when it opens; one block read ahead at most.
      const object = await pinObject(server.s3.client, bucket, 'layer.qcow2', before.length);
      const blocks = bucketBlocks(rangeGet(bucket), BLOCK);
      expect(
        Buffer.concat((await blocks.read('layer', object, 0, BLOCK)).slices).equals(before.subarray(0, BLOCK)),
      ).toBe(true);
      // A merge of the copy puts the merged file under the child's name: the same key, other bytes.
      await put(after);
      // A block not read yet: the bytes of the object pinned, or an error; a mix of both files never.
      const later = await blocks
        .read('layer', object, 4 * BLOCK, BLOCK)
        .then((got) => Buffer.concat(got.slices))
        .catch((error: unknown) => error);
      if (Buffer.isBuffer(later)) expect(later.equals(before.subarray(4 * BLOCK, 5 * BLOCK))).toBe(true);
      else expect(String(later)).toMatch(/PreconditionFailed|412/);
    }, 300_000);
  }

  it('one point only, and a kill -9 of the command takes its daemon and mounts with it; the next view removes its socket directory', async () => {
    await server.s3.makeBucket('killed', {});
    const chain = await backUp(await backUp(undefined, 0), 1);
    const plan = writeS3Plan({ name: 's3-killed', bucket: 'killed', lock: false });
    await copyToBucket(plan);
    const dir = path.join(ws.dir, 'one');
    const { run, daemon } = await openView(plan, dir, '--vm', 's3vm', '--point', chain.ids[0]!, '--read-ahead', '4');
    expect(
      filesUnder(dir)
        .filter((file) => file.endsWith('.qcow2'))
        .sort(),
    ).toEqual([2000, 2001].map((key) => `s3vm/disk-${key}/${chain.ids[0]}.qcow2`));
    await expectRestoresExactly({ ...chain, ids: [chain.ids[0]!] }, dir, 'one');

    // The daemon reads the files from this process's NBD server, on a socket in a private directory.
    const socket = /server\.path=([^,\0]+)/.exec(readFileSync(`/proc/${daemon}/cmdline`, 'utf8'))?.[1];
    expect(socket).toMatch(/\/sendense-view-[^/]+\/nbd\.sock$/);
    const socketDir = path.dirname(socket!);
    leftDirs.push(socketDir);

    open.splice(open.indexOf(run), 1);
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    for (let waited = 0; (alive(daemon) || mountsUnder(dir).length > 0) && waited < 100; waited++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(daemon)).toBe(false);
    expect(mountsUnder(dir)).toEqual([]);
    // Its .sendense-view stays, naming a process that is gone: no qemu command reads through it.
    expect(existsSync(path.join(dir, '.sendense-view'))).toBe(true);
    expect(viewExportOf(path.join(dir, 's3vm', 'disk-2000', `${chain.ids[0]}.qcow2`))).toBeUndefined();

    // Its socket is left, with nobody listening; a minute later the next view's start removes it.
    expect(readdirSync(socketDir)).toEqual(['nbd.sock']);
    const old = new Date(Date.now() - 120_000);
    utimesSync(socketDir, old, old);
    const next = await openView(plan, path.join(ws.dir, 'next'), '--vm', 's3vm', '--point', chain.ids[0]!);
    expect(existsSync(socketDir)).toBe(false);
    open.splice(open.indexOf(next.run), 1);
    process.kill(next.run.pid, 'SIGTERM');
    await next.run.exited;
  }, 600_000);
});
