// Manifests name their digest algorithm: new backups use xxh64 (cheap enough to take on every
// write), earlier manifests were written with xxh128 and sha256 and must keep verifying, and a manifest
// with an algorithm this version does not know is a finding, not a crash or a pass.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DiskManifest } from '../../src/repository/manifest.js';
import { RANGE_DIGEST_ALGORITHM, rangeDigest } from '../../src/repository/range-digest.js';
import { verifyLayer } from '../../src/repository/verify-layer.js';

const MiB = 1024 * 1024;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sendense-range-digest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// A qcow2 with two written ranges, and the raw bytes of those ranges (read back by qemu-img).
async function imageWithTwoRanges(): Promise<{ file: string; ranges: [number, Buffer][] }> {
  const file = join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M']);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', '-c', 'write -P 0xc3 4M 1M', file]);
  const raw = join(dir, 'disk.raw');
  execFileSync('qemu-img', ['convert', '-O', 'raw', file, raw]);
  const bytes = await readFile(raw);
  return {
    file,
    ranges: [
      [0, bytes.subarray(0, MiB)],
      [4 * MiB, bytes.subarray(4 * MiB, 5 * MiB)],
    ],
  };
}

function manifest(algorithm: string, data: [number, number, string][]): DiskManifest {
  return { virtualSize: 16 * MiB, digests: { algorithm, data, zero: [] } } as unknown as DiskManifest;
}

describe('range digests', () => {
  it('xxh64 is XXH64 (its published test vectors) and the algorithm of new manifests; xxh128 (earlier manifests) is XXH3-128', async () => {
    expect(RANGE_DIGEST_ALGORITHM).toBe('xxh64');
    expect(await rangeDigest('xxh64', new Uint8Array(0))).toBe('ef46db3751d8e999');
    expect(await rangeDigest('xxh64', Buffer.from('abc'))).toBe('44bc2cf5ad770999');
    expect(await rangeDigest('xxh128', new Uint8Array(0))).toBe('99aa06d3014798d86001c324468d497f');
  });

  it('a layer verifies against xxh64, xxh128 and sha256 digests (the earlier manifests), and a changed range is found by each', async () => {
    const { file, ranges } = await imageWithTwoRanges();
    const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const xxhash = (algorithm: string) => (bytes: Buffer) => rangeDigest(algorithm, bytes);
    for (const [algorithm, digest] of [
      ['sha256', sha256],
      ['xxh128', xxhash('xxh128')],
      ['xxh64', xxhash('xxh64')],
    ] as const) {
      const data: [number, number, string][] = [];
      for (const [offset, bytes] of ranges) data.push([offset, bytes.length, await digest(bytes)]);
      const clean = await verifyLayer(file, manifest(algorithm, data));
      expect(clean.findings, algorithm).toEqual([]);
      expect(clean.digestsChecked).toBe(true);
      const wrong = data.map((range, index) =>
        index === 1 ? ([range[0], range[1], '0'.repeat(range[2].length)] as [number, number, string]) : range,
      );
      const damaged = await verifyLayer(file, manifest(algorithm, wrong));
      expect(
        damaged.findings.map((finding) => finding.offset),
        algorithm,
      ).toEqual([4 * MiB]);
    }
  });

  it('a manifest with an unknown algorithm is one finding naming it', async () => {
    const { file } = await imageWithTwoRanges();
    const result = await verifyLayer(file, manifest('md4', [[0, MiB, 'ab']]));
    expect(result.findings.map((finding) => finding.message)).toEqual([
      'the manifest\'s digests are "md4", an algorithm this sendense-run does not know',
    ]);
    expect(result.digestsChecked).toBe(false);
  });
});
