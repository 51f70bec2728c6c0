// Copy retention reads a parent's cut ranges on the copy's host through qemu-io's hex dump, many
// ranges a run (src/copy/copy-retention.ts): the bytes each range gets are the image's, from the
// real qemu-io output, and the batches stay within their limits.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rangesOfHexDump, readBatches } from '../../src/copy/merge-reads.js';
import type { Interval } from '../../src/retention/merge-manifest.js';

const dir = mkdtempSync(path.join(tmpdir(), 'hex-dump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("qemu-io's hex dump of several ranges", () => {
  it('gives each range the bytes of the image there, whatever order they were asked in', () => {
    const image = path.join(dir, 'parent.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '4M']);
    execFileSync(
      'qemu-io',
      ['-f', 'qcow2', '-c', 'write -P 0x5a 65536 65536', '-c', 'write -P 0xc3 1048576 4096', image],
      { stdio: 'ignore' },
    );
    // Unaligned, one spanning data and a hole, one at the end of the disk, asked out of order.
    const ranges: Interval[] = [
      [1048576 - 8, 4096 + 16],
      [0, 100],
      [65536 - 3, 65536 + 6],
      [4 * 1024 * 1024 - 17, 17],
    ];
    const dump = execFileSync(
      'qemu-io',
      ['-r', '-f', 'qcow2', ...ranges.flatMap(([offset, length]) => ['-c', `read -v ${offset} ${length}`]), image],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const raw = path.join(dir, 'parent.raw');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, raw]);
    const whole = execFileSync('cat', [raw], { maxBuffer: 8 * 1024 * 1024 });
    const got = rangesOfHexDump(dump, ranges);
    for (const [offset, length] of ranges)
      expect(got.get(offset)!.equals(whole.subarray(offset, offset + length)), `${length} bytes at ${offset}`).toBe(
        true,
      );
  });

  it('refuses a dump that is short of a range', () => {
    const dump =
      '00000000:  01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10  ................\nread 16/16 bytes at offset 0\n';
    expect(() => rangesOfHexDump(dump, [[0, 32]])).toThrow('qemu-io read 16 bytes at 0 where 32 were asked');
  });

  it('batches at most 256 ranges and 16 MiB, a larger range alone', () => {
    const many: Interval[] = Array.from({ length: 600 }, (_, i) => [i * 65536, 4096]);
    expect(readBatches(many).map((batch) => batch.length)).toEqual([256, 256, 88]);
    const big: Interval[] = [
      [0, 2 * 1024 * 1024],
      [4 * 1024 * 1024, 15 * 1024 * 1024],
      [32 * 1024 * 1024, 20 * 1024 * 1024],
      [64 * 1024 * 1024, 1024],
    ];
    expect(readBatches(big).map((batch) => batch.map(([offset]) => offset / (1024 * 1024)))).toEqual([
      [0],
      [4],
      [32],
      [64],
    ]);
    expect(readBatches([])).toEqual([]);
  });
});
