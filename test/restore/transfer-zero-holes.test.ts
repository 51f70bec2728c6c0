// The node transfer's --zero-holes (runners/README.md): a full copy into a target that holds old
// data leaves no old byte where the source has a hole; and a target smaller than the source is
// refused before anything is written.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { qemuImg, qemuIo } from '../support/images.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTransferBundle } from '../support/transfer-bundle.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const bundle = useTransferBundle();
const ws = useRunWorkspace('zero-holes-');
const servers = useNbdServers();

// A 16 MiB source: data at 1 MiB and at the last 64 KiB, a written-zero range, holes elsewhere.
function makeSource(): string {
  const source = join(ws.dir, 'source.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', source, String(16 * MiB));
  qemuIo(source, 'write -P 0x5a 1M 2M', 'write -z 6M 1M', `write -P 0x6b ${16 * MiB - 65536} 64K`);
  return source;
}

// A raw file full of 0xff, served read-write by qemu-nbd: a disk with old data on it.
async function garbageTarget(size: number): Promise<{ file: string; url: string }> {
  const file = join(ws.dir, 'target.raw');
  qemuImg('create', '-q', '-f', 'raw', file, String(size));
  await run('qemu-io', ['-f', 'raw', '-c', `write -P 0xff 0 ${size}`, file]);
  const server = await startQemuNbd({ file, format: 'raw', exportName: 'old' });
  servers.push(server);
  return { file, url: server.url };
}

async function transfer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bundle.runner, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function sameContent(source: string, target: string): Promise<boolean> {
  try {
    await run('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', source, target]);
    return true;
  } catch {
    return false;
  }
}

describe('node transfer --zero-holes', () => {
  it('writes the holes of the source as zeroes into a target full of old data', async () => {
    const source = makeSource();
    const target = await garbageTarget(16 * MiB);
    const result = await transfer([
      '--nbd-targets',
      `2000:${target.url}`,
      '--source',
      `2000=qemu:${source}`,
      '--zero-holes',
    ]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    await servers.pop()!.stop();
    expect(await sameContent(source, target.file)).toBe(true);
    const done = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; bytesToDo?: number })
      .find((line) => line.type === 'done');
    // Every byte of the disk is planned: the data, and the holes as zeroes.
    expect(done?.bytesToDo).toBe(16 * MiB);
  });

  it('without it, holes are skipped and the old data shows through (why restores to NBD need it)', async () => {
    const source = makeSource();
    const target = await garbageTarget(16 * MiB);
    const result = await transfer(['--nbd-targets', `2000:${target.url}`, '--source', `2000=qemu:${source}`]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    await servers.pop()!.stop();
    expect(await sameContent(source, target.file)).toBe(false);
  });

  it('refuses a target smaller than the source and writes nothing into it', async () => {
    const source = makeSource();
    const target = await garbageTarget(8 * MiB);
    const before = sha256(target.file);
    const result = await transfer([
      '--nbd-targets',
      `2000:${target.url}`,
      '--source',
      `2000=qemu:${source}`,
      '--zero-holes',
    ]);
    expect(result.code).toBe(1);
    const error = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; message?: string })
      .find((line) => line.type === 'error');
    expect(error?.message).toMatch(/holds 8388608 bytes, less than the source's 16777216/);
    await servers.pop()!.stop();
    expect(sha256(target.file)).toBe(before);
  });
});

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
