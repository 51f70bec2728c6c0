import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import {
  bitmapAdd,
  bitmapRemove,
  compareImages,
  createImage,
  createOverlay,
  createQcow2,
  imageInfo,
  listBitmaps,
  runLocal,
  startQemuNbd,
  type CommandRunner,
  type QemuNbd,
} from '../../src/qemu/index.js';
import { freePort } from '../support/free-port.js';

const MiB = 1024 * 1024;
let dir: string;
let servers: QemuNbd[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sendense-qemu-img-'));
  servers = [];
});

afterEach(async () => {
  for (const server of servers) await server.stop();
  await rm(dir, { recursive: true, force: true });
});

// Writes a byte pattern with qemu-io (same call on the image under test and on the expected one).
async function write(file: string, format: string, pattern: number, offset: number, length: number): Promise<void> {
  await execa('qemu-io', ['-f', format, '-c', `write -P ${pattern} ${offset} ${length}`, file]);
}

describe('qemu-img', () => {
  it('creates a qcow2 of the given size and refuses to overwrite an existing image', async () => {
    const file = join(dir, 'disk.qcow2');
    await createQcow2(file, 64 * MiB + 512);
    const info = await imageInfo(file);
    expect(info).toMatchObject({ format: 'qcow2', virtualSize: 64 * MiB + 512, corrupt: false, bitmaps: [] });
    await write(file, 'qcow2', 0xaa, 0, 65536);
    const again = createQcow2(file, MiB);
    await expect(again).rejects.toThrow(`image ${file} already exists (refusing to overwrite it)`);
    expect((await imageInfo(file)).virtualSize).toBe(64 * MiB + 512);
    await createImage(join(dir, 'disk.raw'), 'raw', MiB);
    expect((await imageInfo(join(dir, 'disk.raw'))).format).toBe('raw');
  });

  it("stores an overlay's backing path relative, so the repository can move", async () => {
    const repo = join(dir, 'repo');
    await mkdir(join(repo, 'pgtest1', 'disk-2000'), { recursive: true });
    await mkdir(join(repo, 'elsewhere'), { recursive: true });
    const full = join(repo, 'pgtest1', 'disk-2000', 'full.qcow2');
    const inc = join(repo, 'pgtest1', 'disk-2000', 'inc.qcow2');
    const nested = join(repo, 'elsewhere', 'nested.qcow2');
    const expected = join(dir, 'expected.raw');
    await createQcow2(full, 4 * MiB);
    await createImage(expected, 'raw', 4 * MiB);
    for (const [file, format] of [
      [full, 'qcow2'],
      [expected, 'raw'],
    ])
      await write(file, format, 0x11, 0, 2 * MiB);
    await createOverlay(inc, full);
    await createOverlay(nested, inc);
    for (const [file, format] of [
      [nested, 'qcow2'],
      [expected, 'raw'],
    ])
      await write(file, format, 0x22, MiB, 4096);
    expect((await imageInfo(inc)).backingFilename).toBe('full.qcow2');
    expect((await imageInfo(nested)).backingFilename).toBe('../pgtest1/disk-2000/inc.qcow2');
    expect((await imageInfo(nested)).virtualSize).toBe(4 * MiB);

    const moved = join(dir, 'moved-repo');
    await rename(repo, moved);
    expect(await compareImages(join(moved, 'elsewhere', 'nested.qcow2'), expected)).toEqual({ status: 'equal' });
  });

  it('adds, lists and removes persistent bitmaps', async () => {
    const file = join(dir, 'disk.qcow2');
    await createQcow2(file, 8 * MiB);
    await bitmapAdd(file, 'sendense-c1-b1');
    await bitmapAdd(file, 'sendense-c2-b1');
    expect(await listBitmaps(file)).toEqual([
      { name: 'sendense-c1-b1', inUse: false, consistent: true },
      { name: 'sendense-c2-b1', inUse: false, consistent: true },
    ]);
    expect((await imageInfo(file)).bitmaps[0]).toMatchObject({ enabled: true, granularity: 65536 });
    await bitmapRemove(file, 'sendense-c1-b1');
    expect((await listBitmaps(file)).map((bitmap) => bitmap.name)).toEqual(['sendense-c2-b1']);
    await expect(bitmapRemove(file, 'nope')).rejects.toThrow(
      new RegExp(`^cannot remove bitmap nope from ${file}: .*nope`),
    );
  });

  it('reports a bitmap left in use by a killed writer as inconsistent', async () => {
    const file = join(dir, 'disk.qcow2');
    await createQcow2(file, 8 * MiB);
    await bitmapAdd(file, 'b1');
    const server = await startQemuNbd({
      file,
      format: 'qcow2',
      port: await freePort(),
      exportName: 'd',
      shared: 1,
      readOnly: false,
    });
    servers.push(server);
    process.kill(server.pid, 'SIGKILL');
    await server.exited;
    expect(await listBitmaps(file)).toEqual([{ name: 'b1', inUse: true, consistent: false }]);
  });

  it('says an image is locked when another process has it open', async () => {
    const file = join(dir, 'disk.qcow2');
    await createQcow2(file, 8 * MiB);
    const server = await startQemuNbd({
      file,
      format: 'qcow2',
      port: await freePort(),
      exportName: 'd',
      shared: 1,
      readOnly: false,
    });
    servers.push(server);
    const adding = bitmapAdd(file, 'b1');
    await expect(adding).rejects.toBeInstanceOf(SendenseError);
    await expect(adding).rejects.toThrow(`image ${file} is in use by another process (locked)`);
    await expect(imageInfo(file)).rejects.toThrow(`image ${file} is in use by another process (locked)`);
    expect((await imageInfo(file, { forceShare: true })).virtualSize).toBe(8 * MiB);
  });

  it('names a missing image', async () => {
    const file = join(dir, 'missing.qcow2');
    await expect(imageInfo(file)).rejects.toThrow(`cannot read image ${file}: no such file or directory`);
    await expect(createQcow2(join(dir, 'no', 'dir.qcow2'), MiB)).rejects.toThrow(
      /cannot create image .*no such file or directory/,
    );
  });

  it('compares images: equal, different, error', async () => {
    const a = join(dir, 'a.qcow2');
    const b = join(dir, 'b.raw');
    await createQcow2(a, 2 * MiB);
    await createImage(b, 'raw', 2 * MiB);
    expect(await compareImages(a, b)).toEqual({ status: 'equal' });
    await write(b, 'raw', 0x01, MiB, 512);
    expect(await compareImages(a, b)).toMatchObject({
      status: 'different',
      detail: expect.stringContaining('1048576'),
    });
    expect(await compareImages(a, join(dir, 'missing'))).toMatchObject({
      status: 'error',
      detail: expect.stringMatching(/No such file/),
    });
  });

  it('runs through a given runner (how a remote node is used)', async () => {
    const seen: string[][] = [];
    const runner: CommandRunner = (argv) => {
      seen.push([...argv]);
      return runLocal(argv);
    };
    const file = join(dir, 'disk.qcow2');
    await createQcow2(file, MiB, { runner });
    await bitmapAdd(file, 'b1', runner);
    await listBitmaps(file, runner);
    expect(seen.map((argv) => argv.slice(0, 2).join(' '))).toEqual([
      'test -e',
      'qemu-img create',
      'qemu-img bitmap',
      'qemu-img info',
    ]);
  });
});
