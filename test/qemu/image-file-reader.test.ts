// Reading an image's guest bytes straight from its file (src/qemu/image-file-reader.ts): what it
// reads is what qemu-img reads, byte for byte, for qcow2 and raw files made by qemu-img; nothing it
// says is zeroes holds data; and it refuses the images whose file does not hold the guest's bytes as
// they are (a backing file, compressed clusters, LUKS), which the verify step then reads through
// qemu-nbd.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageFile, pageAlignedBuffer } from '../../src/qemu/image-file-reader.js';
import { runLocal } from '../../src/qemu/command-runner.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
let dir: string;

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const qemuIo = (file: string, format: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((command) => ['-c', command]), file], { stdio: 'ignore' });

// Data at odd places: a cluster's middle, across a cluster boundary, zeroes written over data, a
// discard, the last bytes of the disk.
function writeData(file: string, format: string): void {
  qemuIo(
    file,
    format,
    'write -P 0x11 0 3M',
    'write -P 0x22 5243880 70000',
    'write -z 1M 512K',
    'write -P 0x33 20M 4M',
    'discard 21M 1M',
    'write -P 0x44 67104768 4096',
  );
}

// The guest bytes as qemu-img reads them.
function guestBytes(file: string, format: string): Buffer {
  const raw = path.join(dir, `${path.basename(file)}.expected.raw`);
  qemuImg('convert', '-f', format, '-O', 'raw', file, raw);
  return readFileSync(raw);
}

async function readWhole(file: string, format: 'qcow2' | 'raw'): Promise<{ bytes: Buffer; data: number }> {
  const reader = await openImageFile(file, format, { runner: runLocal });
  expect(reader, `${file} should be readable from its file`).toBeDefined();
  try {
    expect(reader!.size).toBe(SIZE);
    // In pieces that do not line up with clusters or extents.
    const bytes = Buffer.alloc(SIZE);
    const piece = 3 * MiB + 4096;
    const buffer = pageAlignedBuffer(piece);
    for (let offset = 0; offset < SIZE; offset += piece) {
      const length = Math.min(piece, SIZE - offset);
      (await reader!.read(offset, length, buffer)).copy(bytes, offset);
    }
    const data = reader!.dataIn(0, SIZE).reduce((sum, [, length]) => sum + length, 0);
    // Outside what it says may hold data, the image reads as zeroes.
    let at = 0;
    for (const [start, length] of [...reader!.dataIn(0, SIZE), [SIZE, 0] as const]) {
      expect(bytes.subarray(at, start).equals(Buffer.alloc(start - at)), `zeroes at ${at}-${start}`).toBe(true);
      at = start + length;
    }
    return { bytes, data };
  } finally {
    await reader!.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-image-file-reader-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openImageFile', () => {
  it('reads a qcow2 file as qemu-img does, and says where its data lies', async () => {
    const file = path.join(dir, 'plain.qcow2');
    qemuImg('create', '-f', 'qcow2', file, String(SIZE));
    writeData(file, 'qcow2');
    const { bytes, data } = await readWhole(file, 'qcow2');
    expect(bytes.equals(guestBytes(file, 'qcow2'))).toBe(true);
    expect(data).toBeGreaterThan(5 * MiB);
    expect(data).toBeLessThan(8 * MiB);
  });

  it('reads a qcow2 that qemu-img convert wrote (data in another order in the file) as qemu-img does', async () => {
    const source = path.join(dir, 'source.qcow2');
    qemuImg('create', '-f', 'qcow2', source, String(SIZE));
    writeData(source, 'qcow2');
    const file = path.join(dir, 'converted.qcow2');
    qemuImg('convert', '-O', 'qcow2', '-o', 'cluster_size=65536', source, file);
    expect((await readWhole(file, 'qcow2')).bytes.equals(guestBytes(source, 'qcow2'))).toBe(true);
  });

  it('reads a sparse raw file as it is', async () => {
    const file = path.join(dir, 'plain.raw');
    qemuImg('create', '-f', 'raw', file, String(SIZE));
    writeData(file, 'raw');
    expect((await readWhole(file, 'raw')).bytes.equals(readFileSync(file))).toBe(true);
  });

  it('refuses what its file does not hold as the guest sees it: an overlay, compressed clusters, LUKS, AES', async () => {
    const base = path.join(dir, 'base.qcow2');
    qemuImg('create', '-f', 'qcow2', base, String(SIZE));
    writeData(base, 'qcow2');
    const overlay = path.join(dir, 'overlay.qcow2');
    qemuImg('create', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay);
    const compressed = path.join(dir, 'compressed.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', base, compressed);
    // LUKS as its header says it (crypt_method 2 at byte 32); making a real one costs seconds of CPU.
    const luks = path.join(dir, 'luks.qcow2');
    qemuImg('convert', '-O', 'qcow2', base, luks);
    const header = readFileSync(luks);
    header.writeUInt32BE(2, 32);
    writeFileSync(luks, header);
    // The legacy AES encryption (crypt_method 1), which qemu no longer writes, the same way. (For
    // these two, qemu-img map without the key fails too: the header check is a second guard.)
    const aes = path.join(dir, 'aes.qcow2');
    header.writeUInt32BE(1, 32);
    writeFileSync(aes, header);
    for (const file of [overlay, compressed, luks, aes])
      expect(await openImageFile(file, 'qcow2', { runner: runLocal }), file).toBeUndefined();
  });
});
