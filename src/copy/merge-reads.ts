// How a merge on a copy works out the child's merged manifest where the two files are (the copy's
// host over SSH, or the hub for a bucket: docs/copies.md#retention): the child's own clusters from
// qemu-img map, and the parent's bytes that those clusters cut read by qemu-io, a few batches of
// ranges each (one run a batch: each is a round trip to the copy's host).

import { SendenseError } from '../errors.js';
import { imageMapArgvOf, qemuIoReadArgv, shellCommand } from '../qemu/command-lines.js';
import { ownExtentsOfMap } from '../retention/merge-files.js';
import { mergedManifest, parentRangesToRead, type Interval } from '../retention/merge-manifest.js';
import type { DiskManifest } from '../repository/manifest.js';

/** Runs a POSIX shell script with its arguments where the files are; its stdout. */
export type Sh = (what: string, script: string, args: readonly string[]) => Promise<string>;

const MAP = shellCommand(imageMapArgvOf('$1'));
// $1 the file, then `-c "read -v OFFSET LENGTH"` pairs.
const READ_HEX = `f=$1; shift; exec ${shellCommand(qemuIoReadArgv('$f', ['$@']))}`;

// The child's manifest once the parent is in its file, as the hub works it out: the child's own
// clusters from qemu-img map where the files are, the parent's bytes its ranges cut by them read there.
export async function mergedManifestOf(
  run: Sh,
  parent: DiskManifest,
  child: DiskManifest,
  parentFile: string,
  childFile: string,
): Promise<DiskManifest> {
  const own = `json:${JSON.stringify({ driver: 'qcow2', file: { driver: 'file', filename: childFile }, backing: null })}`;
  const extents = ownExtentsOfMap(await run(`cannot map ${childFile}`, MAP, [own]));
  const cut: Interval[] = [...extents.data, ...extents.zero].sort((a, b) => a[0] - b[0]);
  // Every range the merge reads, fetched beforehand in a few qemu-io runs (one per batch, not one
  // per range: each is a round trip to the copy's host).
  const fetched = new Map<number, Buffer>();
  for (const batch of readBatches(parentRangesToRead(parent, child, cut))) {
    const commands = batch.flatMap(([offset, length]) => ['-c', `read -v ${offset} ${length}`]);
    const dump = await run(`cannot read ${parentFile}`, READ_HEX, [parentFile, ...commands]);
    for (const [offset, bytes] of rangesOfHexDump(dump, batch)) fetched.set(offset, bytes);
  }
  return mergedManifest(parent, child, cut, async (offset, length) => {
    const bytes = fetched.get(offset);
    if (bytes === undefined || bytes.length !== length)
      throw new Error(`the merge asked for ${length} bytes at ${offset}, which were not read`);
    return bytes;
  });
}

// At most this many ranges and bytes a qemu-io run: its arguments stay short and its hex dump
// (about 4.3 bytes of text a byte) a few tens of MB.
const BATCH_RANGES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;

export function readBatches(ranges: readonly Interval[]): Interval[][] {
  const batches: Interval[][] = [];
  let bytes = 0;
  for (const range of ranges) {
    const last = batches.at(-1);
    if (last === undefined || last.length >= BATCH_RANGES || (last.length > 0 && bytes + range[1] > BATCH_BYTES)) {
      batches.push([range]);
      bytes = range[1];
    } else {
      last.push(range);
      bytes += range[1];
    }
  }
  return batches;
}

// qemu-io's `read -v` output for some ranges (not overlapping): lines of
// "<offset in hex>:  xx xx … (up to 16)  <text>", each placed by its offset into its range.
export function rangesOfHexDump(dump: string, ranges: readonly Interval[]): Map<number, Buffer> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const bytes = new Map(sorted.map(([offset, length]) => [offset, Buffer.alloc(length)] as const));
  const filled = new Map<number, number>(sorted.map(([offset]) => [offset, 0]));
  let index = 0;
  for (const line of dump.split('\n')) {
    const match = /^([0-9a-f]+): {2}((?:[0-9a-f]{2} ){1,16})/.exec(line);
    if (match === null) continue;
    let at = Number.parseInt(match[1]!, 16);
    if (index >= sorted.length || at < sorted[index]![0] || at >= sorted[index]![0] + sorted[index]![1])
      index = sorted.findIndex(([start, length]) => at >= start && at < start + length);
    const range = sorted[index];
    if (range === undefined) throw new SendenseError(`qemu-io printed bytes at ${at}, outside the ranges asked for`);
    const buffer = bytes.get(range[0])!;
    for (const pair of match[2]!.trim().split(' ')) {
      if (at >= range[0] + range[1])
        throw new SendenseError(`qemu-io printed bytes at ${at}, outside the ranges asked for`);
      buffer[at - range[0]] = Number.parseInt(pair, 16);
      at++;
      filled.set(range[0], filled.get(range[0])! + 1);
    }
  }
  for (const [offset, length] of sorted) {
    if (filled.get(offset) !== length)
      throw new SendenseError(`qemu-io read ${filled.get(offset)} bytes at ${offset} where ${length} were asked`);
  }
  return bytes;
}
