// The node transfer as the hub runs it: the bundled program in a child process, real qemu-nbd
// targets, results checked with `qemu-img compare`, and its own qemu-nbd always gone at exit.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rangeDigest } from '../../src/repository/range-digest.js';
import { imagesEqual, qemuImg, qemuIo } from '../support/images.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { processesUnder } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTransferBundle } from '../support/transfer-bundle.js';

const MiB = 1024 * 1024;
const bundle = useTransferBundle();
const ws = useRunWorkspace('transfer-');
const servers = useNbdServers();

interface Line {
  readonly type: string;
  readonly disk?: number;
  readonly [key: string]: unknown;
}
interface Run {
  readonly code: number | null;
  readonly lines: Line[];
  readonly stderr: string;
  /** PIDs of the qemu-nbd processes the runner said it started. */
  readonly qemuNbdPids: number[];
}

// Runs the transfer; `whileRunning` may act on it (close stdin, kill a server) after a line.
function transfer(args: string[], whileRunning?: (line: Line, control: { closeStdin(): void }) => void): Promise<Run> {
  const child = spawn(process.execPath, [bundle.runner, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let stdout = '';
  let stderr = '';
  const control = { closeStdin: () => child.stdin.end() };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let newline: number;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      const line = JSON.parse(stdout.slice(0, newline)) as Line;
      stdout = stdout.slice(newline + 1);
      lines.push(line);
      whileRunning?.(line, control);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      const qemuNbdPids = lines.filter((line) => line.message === 'qemu-nbd started').map((line) => line.pid as number);
      resolve({ code, lines, stderr, qemuNbdPids });
    });
  });
}

// At least one: with no "qemu-nbd started" line the check below would pass on nothing.
function expectNoQemuNbdLeft(run: Run): void {
  expect(run.qemuNbdPids.length, 'the runner reported the qemu-nbd it started').toBeGreaterThan(0);
  for (const pid of run.qemuNbdPids) expect(existsSync(`/proc/${pid}`), `qemu-nbd ${pid} still running`).toBe(false);
}
function done(run: Run, disk: number): Line {
  const line = run.lines.find((candidate) => candidate.type === 'done' && candidate.disk === disk);
  expect(line, `${run.stderr}\n${JSON.stringify(run.lines)}`).toBeDefined();
  return line!;
}
// A source (size, qemu-io writes) with bitmap b1, copied whole into a new qcow2 (file: target).
async function sourceWithFullCopy(size: string, ...writes: string[]): Promise<{ source: string; full: string }> {
  const source = join(ws.dir, 'src.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', source, size);
  qemuIo(source, ...writes);
  qemuImg('bitmap', '--add', source, 'b1');
  const full = join(ws.dir, 'full.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', full, size);
  expect((await transfer(['--nbd-targets', `2000:file:qcow2:${full}`, '--source', `2000=qemu:${source}`])).code).toBe(
    0,
  );
  return { source, full };
}
// What changed since b1, copied into a new overlay on the full copy.
async function incrementalIntoOverlay(source: string, full: string): Promise<{ run: Run; incremental: string }> {
  const incremental = join(ws.dir, 'inc.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', full, '-F', 'qcow2', incremental);
  const run = await transfer([
    '--nbd-targets',
    `2000:file:qcow2:${incremental}`,
    '--source',
    `2000=qemu:${source}`,
    '--bitmap',
    '2000=b1',
  ]);
  expect(run.code, run.stderr).toBe(0);
  return { run, incremental };
}
// A qcow2 source into a file: target, the disk marked for qemu-img as the hub marks a local full's.
function markedForQemuImg(source: string, target: string): string[] {
  return [
    '--nbd-targets',
    `2000:file:qcow2:${target}`,
    '--source',
    `2000=qemu:${source}`,
    '--format',
    '2000=qcow2',
    '--copy',
    '2000=qemu-img',
  ];
}
async function serveTarget(file: string): Promise<string> {
  const server = await startQemuNbd({ file, exportName: 'target' });
  servers.push(server);
  return server.url;
}

describe('full and incremental transfers', () => {
  it('an incremental writes dirty ranges that became zero or were discarded, and the last sector', async () => {
    const size = 64 * MiB + 4608; // not a multiple of 64 KiB
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, String(size));
    qemuIo(
      source,
      'write -P 0x11 0 8M',
      'write -P 0x22 20M 6M',
      'write -P 0x33 40M 3M',
      `write -P 0x44 ${size - 512} 512`,
    );
    qemuImg('bitmap', '--add', source, 'b1');
    const full = join(ws.dir, 'full.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', full, String(size));
    const fullRun = await transfer([
      '--nbd-targets',
      `2000:${await serveTarget(full)}`,
      '--source',
      `2000=qemu:${source}`,
    ]);
    expect(fullRun.code).toBe(0);
    // The last, partial cluster is data as a whole: 4608 bytes.
    expect(done(fullRun, 2000).bytesWritten).toBe(17 * MiB + 4608);
    expectNoQemuNbdLeft(fullRun);
    await servers.splice(0)[0]!.stop();
    expect(imagesEqual(source, full)).toBe(true);

    qemuIo(source, 'write -z 20M 2M', 'discard 40M 1M', 'write -P 0x55 60M 1M', `write -P 0x66 ${size - 512} 512`);
    qemuImg('bitmap', '--add', source, 'b2');
    const incremental = join(ws.dir, 'inc.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', full, '-F', 'qcow2', incremental);
    const incRun = await transfer([
      '--nbd-targets',
      `2000:${await serveTarget(incremental)}`,
      '--source',
      `2000=qemu:${source}`,
      '--bitmap',
      '2000=b1',
    ]);
    expect(incRun.code).toBe(0);
    const line = done(incRun, 2000);
    expect(line.bytesZeroed).toBeGreaterThanOrEqual(3 * MiB);
    expect(line.bytesToDo).toBeLessThan(5 * MiB);
    expectNoQemuNbdLeft(incRun);
    await servers.splice(0)[0]!.stop();
    expect(imagesEqual(source, incremental)).toBe(true);
    expect(imagesEqual(full, incremental)).toBe(false);
  });

  it('an incremental with many scattered dirty ranges, one across 256 MiB, writes each in order', async () => {
    // More dirty ranges than the plan looks up at once, data and zeroes mixed, one range
    // crossing a lookup piece boundary (256 MiB), on a mostly sparse 512 MiB disk.
    const { source, full } = await sourceWithFullCopy('512M', 'write -P 0x11 0 512M');
    const writes = Array.from({ length: 40 }, (_, index) =>
      index % 3 === 0 ? `write -z ${index * 9}M 1M` : `write -P 0x${(index + 32).toString(16)} ${index * 9}M 640k`,
    );
    qemuIo(source, ...writes, 'write -P 0x77 255M 2M', 'discard 400M 3M');
    const { run, incremental } = await incrementalIntoOverlay(source, full);
    expect(done(run, 2000).bytesZeroed).toBeGreaterThanOrEqual(14 * MiB + 3 * MiB);
    expect(imagesEqual(source, incremental)).toBe(true);
    expectNoQemuNbdLeft(run);
  });

  it('an incremental of an unchanged disk copies nothing', async () => {
    const { source, full } = await sourceWithFullCopy('32M', 'write -P 0x11 0 4M');
    const { run, incremental } = await incrementalIntoOverlay(source, full);
    expect(done(run, 2000)).toMatchObject({ bytesToDo: 0, bytesWritten: 0, bytesZeroed: 0 });
    expect(imagesEqual(source, incremental)).toBe(true);
    expectNoQemuNbdLeft(run);
  });

  it('copies 3 disks in parallel into file:, nbd+unix: and nbd:// targets', async () => {
    const targets: string[] = [];
    const sources: string[] = [];
    for (const [index, key] of [2000, 2001, 2002].entries()) {
      const source = join(ws.dir, `src-${key}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', source, `${16 + index * 8}M`);
      qemuIo(source, `write -P 0x${(index + 1) * 16} ${index}M 5M`);
      const target = join(ws.dir, `tgt-${key}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', target, `${16 + index * 8}M`);
      sources.push(source);
      targets.push(target);
    }
    const unix = await startQemuNbd({ file: targets[1]!, socket: join(ws.dir, 't.sock'), exportName: 't1' });
    servers.push(unix);
    const run = await transfer([
      '--nbd-targets',
      `2000:file:qcow2:${targets[0]},2001:${unix.url},2002:${await serveTarget(targets[2]!)}`,
      ...sources.flatMap((source, index) => ['--source', `${2000 + index}=qemu:${source}`]),
      '--connections',
      '2',
    ]);
    expect(run.code, run.stderr).toBe(0);
    for (const server of servers.splice(0)) await server.stop();
    for (const [index, source] of sources.entries()) expect(imagesEqual(source, targets[index]!)).toBe(true);
    expect(run.lines.at(-1)).toMatchObject({ type: 'result', ok: true });
    expectNoQemuNbdLeft(run);
  });

  it('digests name the bytes read at their offsets, also once a large copy hashes on its own thread', async () => {
    // 96 MiB of data, a different pattern per MiB: past the 64 MiB the transfer hashes on its
    // event loop before it starts the digest thread, so both ways are checked.
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '128M');
    qemuIo(source, ...Array.from({ length: 96 }, (_, index) => `write -P ${index + 1} ${index + 16}M 1M`));
    const target = join(ws.dir, 'tgt.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '128M');
    const run = await transfer(['--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${source}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(
      run.lines.some((line) => line.message === 'digest thread started'),
      'the digest thread ran',
    ).toBe(true);
    const raw = join(ws.dir, 'src.raw');
    qemuImg('convert', '-f', 'qcow2', '-O', 'raw', source, raw);
    const bytes = readFileSync(raw);
    const data = run.lines
      .filter((line) => line.type === 'digests')
      .flatMap((line) => line.data as [number, number, string][]);
    expect(data.reduce((sum, [, length]) => sum + length, 0)).toBe(96 * MiB);
    for (const [offset, length, digest] of data)
      expect(digest, `range at ${offset}`).toBe(await rangeDigest('xxh64', bytes.subarray(offset, offset + length)));
    // A restore asks for none: it records nothing from the copy.
    qemuImg('create', '-q', '-f', 'qcow2', target, '128M');
    const restore = await transfer([
      '--nbd-targets',
      `2000:file:qcow2:${target}`,
      '--source',
      `2000=qemu:${source}`,
      '--no-digests',
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.lines.filter((line) => line.type === 'digests' || line.message === 'digest thread started')).toEqual(
      [],
    );
    expect(imagesEqual(source, target)).toBe(true);
  });

  it('a disk marked for qemu-img: copied by qemu-img, the same digests and zero ranges as over NBD', async () => {
    // docs/how-it-works.md#a-local-full-backup: data, zero clusters, data that reads as zeroes, a partly written last piece.
    const source = join(ws.dir, 'named.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '96M');
    qemuIo(
      source,
      'write -P 0x31 0 5M',
      'write -z 8M 4M',
      'write -P 0 16M 2M',
      'write -P 0x32 30M 100K',
      'write -P 0x33 95M 1M',
    );
    const viaQemuImg = join(ws.dir, 'via-qemu-img.qcow2');
    const viaNbd = join(ws.dir, 'via-nbd.qcow2');
    for (const file of [viaQemuImg, viaNbd]) qemuImg('create', '-q', '-f', 'qcow2', file, '96M');
    const copied = await transfer(markedForQemuImg(source, viaQemuImg));
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.lines.find((line) => line.type === 'done')).toMatchObject({
      copiedWith: 'qemu-img convert',
      bytesDone: 8 * MiB + 128 * 1024,
    });
    // Unmarked, the transfer copies over NBD.
    const served = await transfer([
      '--nbd-targets',
      `2000:${await serveTarget(viaNbd)}`,
      '--source',
      `2000=qemu:${source}`,
    ]);
    expect(served.code, served.stderr).toBe(0);
    expect(served.lines.find((line) => line.type === 'done')?.copiedWith).toBeUndefined();
    const recorded = (run: Run) => {
      const lines = run.lines.filter((line) => line.type === 'digests');
      const sorted = (ranges: unknown[][]) => [...ranges].sort((a, b) => Number(a[0]) - Number(b[0]));
      return {
        data: sorted(lines.flatMap((line) => line.data as unknown[][])),
        zero: sorted(lines.flatMap((line) => line.zero as unknown[][])),
      };
    };
    expect(recorded(copied)).toEqual(recorded(served));
    expect(recorded(copied).zero).toEqual([[16 * MiB, 2 * MiB]]);
    expect(imagesEqual(source, viaQemuImg)).toBe(true);
  });

  it('a disk marked for qemu-img whose source has compressed clusters goes over NBD into its file, exact', async () => {
    // docs/how-it-works.md#a-local-full-backup: only the source's map shows them.
    const plain = join(ws.dir, 'plain.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', plain, '16M');
    qemuIo(plain, 'write -P 0x41 0 3M', 'write -P 0x42 9M 1M');
    const source = join(ws.dir, 'compressed.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', plain, source);
    const target = join(ws.dir, 'from-compressed.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '16M');
    const run = await transfer(markedForQemuImg(source, target));
    expect(run.code, run.stderr).toBe(0);
    expect(done(run, 2000).copiedWith).toBeUndefined();
    expect(imagesEqual(source, target)).toBe(true);
  });

  it('a disk marked for qemu-img into a target with a backing file fails with the reason, and copies nothing', async () => {
    const source = join(ws.dir, 'marked.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '8M');
    qemuIo(source, 'write -P 0x51 0 1M');
    const base = join(ws.dir, 'marked-base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '8M');
    const target = join(ws.dir, 'marked-overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', target);
    const run = await transfer(markedForQemuImg(source, target));
    expect(run.code).not.toBe(0);
    const error = run.lines.find((line) => line.type === 'error' && line.disk === 2000);
    expect(error?.message).toBe(`target ${target} has a backing file: qemu-img cannot copy into it`);
    expect(run.lines.some((line) => line.type === 'done')).toBe(false);
  });

  it('copies a sparse 100 GiB disk by its data only, without reading the holes', async () => {
    const source = join(ws.dir, 'big.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '100G');
    qemuIo(source, 'write -P 0x77 0 1M', 'write -P 0x78 50G 2M', 'write -P 0x79 102399M 1M');
    const target = join(ws.dir, 'big-target.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '100G');
    const run = await transfer(['--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${source}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(done(run, 2000)).toMatchObject({ bytesToDo: 4 * MiB, bytesWritten: 4 * MiB });
    expect(imagesEqual(source, target)).toBe(true);
  }, 60_000);
});

describe('transfer errors', () => {
  it('an NBD target that takes one client gets the whole copy, exact, over that one connection', async () => {
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '64M');
    qemuIo(source, 'write -P 0x61 0 9M', 'write -P 0x62 40M 3M');
    const target = join(ws.dir, 't.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '64M');
    const server = await startQemuNbd({ file: target, exportName: 'target', shared: 1 });
    servers.push(server);
    const run = await transfer(['--nbd-targets', `2000:${server.url}`, '--source', `2000=qemu:${source}`]);
    expect(run.code, `${run.stderr}\n${JSON.stringify(run.lines)}`).toBe(0);
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    expect(imagesEqual(source, target)).toBe(true);
  }, 60_000);

  it('a missing source fails that disk only, with an error line naming it', async () => {
    const good = join(ws.dir, 'good.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', good, '8M');
    const target = join(ws.dir, 't.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '8M');
    const other = join(ws.dir, 'u.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', other, '8M');
    const run = await transfer([
      '--nbd-targets',
      `2000:file:qcow2:${target},2001:file:qcow2:${other}`,
      '--source',
      `2000=qemu:${join(ws.dir, 'missing.qcow2')}`,
      '--source',
      `2001=qemu:${good}`,
    ]);
    expect(run.code).toBe(1);
    expect(run.lines).toContainEqual({
      type: 'error',
      disk: 2000,
      message: `source image ${join(ws.dir, 'missing.qcow2')} does not exist`,
    });
    expect(run.lines.at(-1)).toMatchObject({
      type: 'result',
      ok: false,
      disks: [
        { disk: 2000, ok: false },
        { disk: 2001, ok: true },
      ],
    });
    expectNoQemuNbdLeft(run);
  });

  it('a missing, disabled or impossible bitmap is a clear error for that disk, the format probed or named (then qemu-nbd starts during the check), and no qemu-nbd is left', async () => {
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '8M');
    qemuImg('bitmap', '--add', source, 'other');
    const raw = join(ws.dir, 'src.raw');
    qemuImg('create', '-q', '-f', 'raw', raw, '8M');
    const target = join(ws.dir, 't.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '8M');
    const from = (image: string, ...options: string[]) =>
      transfer(['--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${image}`, ...options]);
    const probed = await from(source, '--bitmap', '2000=b1');
    expect(probed.code).toBe(1);
    expect(probed.lines).toContainEqual({
      type: 'error',
      disk: 2000,
      message: `bitmap 'b1' not found in ${source} (bitmaps there: other)`,
    });
    const missing = await from(source, '--format', '2000=qcow2', '--bitmap', '2000=b1');
    expect(missing.code).toBe(1);
    expect(missing.lines).toContainEqual({
      type: 'error',
      disk: 2000,
      message: `bitmap 'b1' not found in ${source} (bitmaps there: other)`,
    });
    expectNoQemuNbdLeft(missing);
    const rawRun = await from(raw, '--format', '2000=raw', '--bitmap', '2000=b1');
    expect(rawRun.code).toBe(1);
    expect(rawRun.lines).toContainEqual({
      type: 'error',
      disk: 2000,
      message: `${raw} is a raw image: it has no bitmaps, so only a full backup is possible`,
    });
    expectNoQemuNbdLeft(rawRun);
    // A disabled bitmap qemu-nbd serves: it was started, and is stopped again.
    qemuImg('bitmap', '--add', source, 'b2');
    qemuImg('bitmap', '--disable', source, 'b2');
    const disabled = await from(source, '--format', '2000=qcow2', '--bitmap', '2000=b2');
    expect(disabled.code).toBe(1);
    expect(disabled.lines).toContainEqual({
      type: 'error',
      disk: 2000,
      message: `bitmap 'b2' in ${source} is disabled (it stopped recording writes)`,
    });
    expectNoQemuNbdLeft(disabled);
    expect(processesUnder(ws.dir)).toEqual([]);
  });

  it('a target that refuses the export or dies mid-transfer fails the disk and leaves no qemu-nbd', async () => {
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '1G');
    qemuIo(source, 'write -P 0x5a 0 768M');
    const target = join(ws.dir, 't.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '1G');
    const url = await serveTarget(target);
    const refused = await transfer([
      '--nbd-targets',
      `2000:${url.replace('/target', '/nope')}`,
      '--source',
      `2000=qemu:${source}`,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.lines).toContainEqual(
      expect.objectContaining({
        type: 'error',
        disk: 2000,
        message: expect.stringMatching(/has no export named 'nope'/),
      }),
    );
    expectNoQemuNbdLeft(refused);

    const server = servers[0]!;
    const killed = await transfer(['--nbd-targets', `2000:${url}`, '--source', `2000=qemu:${source}`], (line) => {
      if (line.type === 'progress') process.kill(server.pid, 'SIGKILL');
    });
    expect(killed.code).toBe(1);
    expect(killed.lines).toContainEqual(
      expect.objectContaining({
        type: 'error',
        disk: 2000,
        message: expect.stringMatching(/NBD connection to nbd:\/\/127\.0\.0\.1:\d+\/target lost/),
      }),
    );
    expect(killed.qemuNbdPids).toHaveLength(1);
    expectNoQemuNbdLeft(killed);
  }, 60_000);

  it('stdin closing stops the transfer and its qemu-nbd', async () => {
    const source = join(ws.dir, 'src.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', source, '1G');
    qemuIo(source, 'write -P 0x5a 0 768M');
    const target = join(ws.dir, 't.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', target, '1G');
    const run = await transfer(
      ['--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${source}`],
      (line, control) => {
        if (line.type === 'start') control.closeStdin();
      },
    );
    expect(run.code).toBe(1);
    expect(run.lines).toContainEqual({ type: 'error', disk: 2000, message: 'transfer stopped: stdin closed' });
    expect(run.qemuNbdPids).toHaveLength(2);
    expectNoQemuNbdLeft(run);
  }, 60_000);

  it('bad arguments exit with code 2', async () => {
    const run = await transfer(['--nbd-targets', '2000:nbd://127.0.0.1:1/x', '--source', '2001=qemu:/x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/disk 2000 is in --nbd-targets but has no --source 2000=/);
  });
});
