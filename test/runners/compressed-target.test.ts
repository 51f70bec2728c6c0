// The node transfer into zstd qcow2 files served through QEMU's compress filter, as a backup into
// a `compression: zstd` repository serves them (docs/encryption.md#compression): the filter takes
// whole 64 KiB clusters and fails a second write into one, so data and zeroes at unaligned places
// land exact only with --align; a full and an incremental over a dirty bitmap, read back with
// qemu-img, and the same copy without --align failing.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startQemuNbd, type QemuNbd } from '../../src/qemu/qemu-nbd.js';
import { rangeDigest } from '../../src/repository/range-digest.js';
import { imagesEqual, qemuImg, qemuIo } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTransferBundle } from '../support/transfer-bundle.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CLUSTER = 64 * KiB;
const SIZE = 16 * MiB;
const bundle = useTransferBundle();
const ws = useRunWorkspace('compressed-target-');
const served: QemuNbd[] = [];
afterEach(async () => {
  for (const server of served.splice(0)) await server.stop();
});

interface Line {
  readonly type: string;
  readonly disk?: number;
  readonly [key: string]: unknown;
}

// Runs the bundled transfer to its end.
function transfer(args: readonly string[]): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  const child = spawn(process.execPath, [bundle.runner, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      const lines = stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Line);
      resolve({ code, lines, stderr });
    });
  });
}

// A new zstd qcow2 (an overlay on `backing` for an incremental), served writable through the
// compress filter the way start-qemu-nbd serves a backup's new file.
async function compressedTarget(name: string, backing?: string): Promise<{ file: string; server: QemuNbd }> {
  const file = join(ws.dir, name);
  qemuImg(
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    'compression_type=zstd',
    ...(backing ? ['-b', backing, '-F', 'qcow2'] : []),
    file,
    ...(backing ? [] : [String(SIZE)]),
  );
  const server = await startQemuNbd({
    file,
    format: 'qcow2',
    socket: join(ws.dir, `${basename(file)}.sock`),
    exportName: 'target',
    shared: 8,
    readOnly: false,
    compress: true,
  });
  served.push(server);
  return { file, server };
}

async function stop(server: QemuNbd): Promise<void> {
  await server.stop();
  served.splice(served.indexOf(server), 1);
}

function compressedClusters(file: string): number {
  return (
    (JSON.parse(qemuImg('check', '--output=json', file)) as { 'compressed-clusters'?: number })[
      'compressed-clusters'
    ] ?? 0
  );
}

// A source whose allocation and dirty bitmap have 4 KiB granularity, so block status and dirty
// ranges start and end inside the target's 64 KiB clusters.
function unalignedSource(): string {
  const source = join(ws.dir, 'src.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', source, String(SIZE));
  qemuIo(
    source,
    // Two 4 KiB writes in one cluster, one across a cluster boundary.
    'write -P 0x11 4k 4k',
    'write -P 0x12 12k 4k',
    'write -P 0x13 60k 72k',
    // Data with zeroes (reads as zero, a hole to block status) inside and at the edge.
    'write -P 0x14 1M 1M',
    'write -z 1092k 20k',
    'write -P 0x15 3M 512k',
    'write -z 3076k 8k',
    'write -P 0x16 5M 128k',
  );
  qemuImg('bitmap', '--add', '-g', '4096', source, 'b1');
  return source;
}

// What changed since b1: data next to zeroes in one cluster, two dirty ranges in one cluster (and
// 20 more such pairs: more dirty ranges than the plan looks up at once), a zero range inside a
// dirty data range, whole clusters of zeroes, a discard, a write across a cluster boundary and
// the last sector. 34 clusters in all, 4 of them wholly zero.
const INCREMENTAL_WRITES = [
  ...Array.from({ length: 20 }, (_, index) => [
    `write -P ${0x30 + index} ${9 * MiB + index * 128 * KiB + 4 * KiB} 4k`,
    `write -z ${9 * MiB + index * 128 * KiB + 12 * KiB} 4k`,
  ]).flat(),
  'write -P 0x21 68k 4k',
  'write -z 72k 4k',
  'write -P 0x22 200k 4k',
  'write -P 0x23 208k 4k',
  'write -P 0x24 1088k 128k',
  'write -z 1124k 20k',
  'write -z 3M 256k',
  'write -z 3332k 12k',
  'discard 5124k 64k',
  'write -P 0x25 8188k 8k',
  `write -P 0x26 ${SIZE - 512} 512`,
];

// Every range the transfer says it wrote is whole clusters, each once, and its digest names the
// source's bytes there (so the manifest describes the file as written).
async function expectWholeClustersAsWritten(lines: readonly Line[], source: string): Promise<void> {
  const raw = join(ws.dir, 'src.raw');
  qemuImg('convert', '-U', '-f', 'qcow2', '-O', 'raw', source, raw);
  const bytes = readFileSync(raw);
  const data = lines
    .filter((line) => line.type === 'digests')
    .flatMap((line) => line.data as [number, number, string][]);
  const zero = lines.filter((line) => line.type === 'digests').flatMap((line) => line.zero as [number, number][]);
  const ranges = [...data, ...zero].map(([offset, length]) => [offset, length] as const).sort((a, b) => a[0] - b[0]);
  expect(ranges.length).toBeGreaterThan(0);
  let last = 0;
  for (const [offset, length] of ranges) {
    expect(offset % CLUSTER, `range at ${offset}`).toBe(0);
    expect((offset + length) % CLUSTER, `range at ${offset}+${length}`).toBe(0);
    expect(offset, `range at ${offset} overlaps the one before`).toBeGreaterThanOrEqual(last);
    last = offset + length;
  }
  for (const [offset, length, digest] of data)
    expect(digest, `data at ${offset}`).toBe(await rangeDigest('xxh64', bytes.subarray(offset, offset + length)));
  for (const [offset, length] of zero)
    expect(
      bytes.subarray(offset, offset + length).every((byte) => byte === 0),
      `zeroes at ${offset}`,
    ).toBe(true);
}

function done(run: { lines: Line[]; stderr: string }): Line {
  const line = run.lines.find((candidate) => candidate.type === 'done');
  expect(line, `${run.stderr}\n${JSON.stringify(run.lines)}`).toBeDefined();
  return line!;
}

describe('a transfer into a target served through the compress filter', () => {
  it('--align 65536: a full and an incremental of unaligned data and zeroes land exact and compressed', async () => {
    const source = unalignedSource();
    const full = await compressedTarget('full.qcow2');
    const fullRun = await transfer([
      '--nbd-targets',
      `2000:${full.server.url}`,
      '--source',
      `2000=qemu:${source}`,
      '--align',
      '65536',
    ]);
    expect(fullRun.code, `${fullRun.stderr}\n${JSON.stringify(fullRun.lines)}`).toBe(0);
    // Counted as written: whole clusters.
    const fullDone = done(fullRun);
    expect(fullDone.bytesDone).toBe(fullDone.bytesToDo);
    expect(fullDone.bytesToDo).toBe(3 * CLUSTER + 1 * MiB + 512 * KiB + 2 * CLUSTER);
    await stop(full.server);
    await expectWholeClustersAsWritten(fullRun.lines, source);
    expect(imagesEqual(source, full.file)).toBe(true);
    expect(compressedClusters(full.file)).toBeGreaterThan(0);

    qemuIo(source, ...INCREMENTAL_WRITES);
    const incremental = await compressedTarget('inc.qcow2', full.file);
    const incRun = await transfer([
      '--nbd-targets',
      `2000:${incremental.server.url}`,
      '--source',
      `2000=qemu:${source}`,
      '--bitmap',
      '2000=b1',
      '--align',
      '65536',
    ]);
    expect(incRun.code, `${incRun.stderr}\n${JSON.stringify(incRun.lines)}`).toBe(0);
    const incDone = done(incRun);
    expect(incDone.bytesDone).toBe(incDone.bytesToDo);
    expect(incDone.bytesToDo).toBe(34 * CLUSTER);
    // Whole clusters of zeroes went as zeroes.
    expect(incDone.bytesZeroed).toBe(4 * CLUSTER);
    await stop(incremental.server);
    await expectWholeClustersAsWritten(incRun.lines, source);
    expect(imagesEqual(source, incremental.file)).toBe(true);
    expect(imagesEqual(full.file, incremental.file)).toBe(false);
    expect(compressedClusters(incremental.file)).toBeGreaterThan(0);
  });

  it('without --align the same copies fail with EIO: a second write into a cluster', async () => {
    const source = unalignedSource();
    const full = await compressedTarget('full.qcow2');
    const fullRun = await transfer(['--nbd-targets', `2000:${full.server.url}`, '--source', `2000=qemu:${source}`]);
    expect(fullRun.code).toBe(1);
    expect(fullRun.lines).toContainEqual(
      expect.objectContaining({
        type: 'error',
        disk: 2000,
        message: expect.stringMatching(/NBD WRITE at offset \d+ .* EIO \(input\/output error\)/),
      }),
    );
    await stop(full.server);

    // The incremental alone: over a full written aligned.
    const good = await compressedTarget('good.qcow2');
    expect(
      (
        await transfer([
          '--nbd-targets',
          `2000:${good.server.url}`,
          '--source',
          `2000=qemu:${source}`,
          '--align',
          '65536',
        ])
      ).code,
    ).toBe(0);
    await stop(good.server);
    qemuIo(source, ...INCREMENTAL_WRITES);
    const incremental = await compressedTarget('inc.qcow2', good.file);
    const incRun = await transfer([
      '--nbd-targets',
      `2000:${incremental.server.url}`,
      '--source',
      `2000=qemu:${source}`,
      '--bitmap',
      '2000=b1',
    ]);
    expect(incRun.code).toBe(1);
    expect(incRun.lines).toContainEqual(
      expect.objectContaining({
        type: 'error',
        disk: 2000,
        message: expect.stringMatching(/EIO \(input\/output error\)/),
      }),
    );
  });
});
