// A merged point's manifest keeps a digest for every range it holds, also when its parent was
// recorded with another algorithm (sha256 manifests from before xxh128): the parent's bytes are
// checked against their own digest and hashed again in the child's algorithm.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DiskManifest } from '../../src/repository/manifest.js';
import { rangeDigest } from '../../src/repository/range-digest.js';
import { mergedManifest, parentRangesToRead } from '../../src/retention/merge-manifest.js';

const KiB = 1024;
const disk = Buffer.alloc(256 * KiB);
for (let i = 0; i < disk.length; i += 1) disk[i] = (i * 7 + (i >> 9)) & 255;
const read = async (offset: number, length: number) => disk.subarray(offset, offset + length);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function manifest(backupId: string, algorithm: string, data: [number, number, string][]): DiskManifest {
  return {
    backupId,
    diskKey: 2000,
    type: 'incremental',
    parentId: null,
    parentFile: null,
    bytes: 0,
    digests: { algorithm, data, zero: [] },
  } as unknown as DiskManifest;
}

describe('merged manifest', () => {
  it.each([
    ['sha256', 'xxh128'],
    ['xxh128', 'xxh64'],
  ])(
    "a %s parent under an %s child: every surviving range gets a digest of its bytes in the child's algorithm",
    async (parentAlgorithm, algorithm) => {
      const parentDigest = (bytes: Buffer) =>
        parentAlgorithm === 'sha256' ? sha256(bytes) : rangeDigest(parentAlgorithm, bytes);
      const parent = manifest('p', parentAlgorithm, [
        [0, 64 * KiB, await parentDigest(disk.subarray(0, 64 * KiB))],
        [128 * KiB, 64 * KiB, await parentDigest(disk.subarray(128 * KiB, 192 * KiB))],
      ]);
      // The child wrote 160-176 KiB: it cuts the parent's second range.
      const child = manifest('c', algorithm, [
        [160 * KiB, 16 * KiB, await rangeDigest(algorithm, disk.subarray(160 * KiB, 176 * KiB))],
      ]);
      const merged = await mergedManifest(parent, child, [[160 * KiB, 16 * KiB]], read);
      expect(merged.digests!.algorithm).toBe(algorithm);
      const expected = await Promise.all(
        [
          [0, 64 * KiB],
          [128 * KiB, 32 * KiB],
          [160 * KiB, 16 * KiB],
          [176 * KiB, 16 * KiB],
        ].map(async ([offset, length]) => [
          offset,
          length,
          await rangeDigest(algorithm, disk.subarray(offset!, offset! + length!)),
        ]),
      );
      expect(merged.digests!.data).toEqual(expected);
    },
  );

  it('refuses to merge a parent whose bytes differ from its sha256 digest', async () => {
    const parent = manifest('p', 'sha256', [[0, 64 * KiB, sha256(Buffer.alloc(64 * KiB))]]);
    const child = manifest('c', 'xxh64', []);
    await expect(mergedManifest(parent, child, [], read)).rejects.toThrow(
      'the data at guest offset 0 differs from its manifest',
    );
  });

  it('reads exactly the ranges parentRangesToRead names, so a caller can fetch them first (a copy over SSH)', async () => {
    const ranges: [number, number][] = [
      [0, 16 * KiB],
      [32 * KiB, 16 * KiB],
      [64 * KiB, 16 * KiB],
      [96 * KiB, 16 * KiB],
    ];
    const digests = async (algorithm: string) =>
      Promise.all(
        ranges.map(
          async ([offset, length]) =>
            [offset, length, await rangeDigest(algorithm, disk.subarray(offset, offset + length))] as [
              number,
              number,
              string,
            ],
        ),
      );
    // The child covers the second range whole and cuts the third.
    const cut: [number, number][] = [
      [32 * KiB, 16 * KiB],
      [72 * KiB, 4 * KiB],
    ];
    for (const parentAlgorithm of ['xxh64', 'xxh128']) {
      const parent = manifest('p', parentAlgorithm, await digests(parentAlgorithm));
      const child = manifest('c', 'xxh64', []);
      const asked: [number, number][] = [];
      await mergedManifest(parent, child, cut, async (offset, length) => {
        asked.push([offset, length]);
        return read(offset, length);
      });
      expect(parentRangesToRead(parent, child, cut), parentAlgorithm).toEqual(asked);
    }
    // Same algorithm: only the cut range; another: every range the child leaves something of.
    expect(parentRangesToRead(manifest('p', 'xxh64', await digests('xxh64')), manifest('c', 'xxh64', []), cut)).toEqual(
      [[64 * KiB, 16 * KiB]],
    );
    expect(
      parentRangesToRead(manifest('p', 'xxh128', await digests('xxh128')), manifest('c', 'xxh64', []), cut),
    ).toHaveLength(3);
  });
});
