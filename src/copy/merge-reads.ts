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
// "<offset in hex>:  xx xx … (up to 16)  <text>", each placed by its offset into its range. Read
// character by character: a merge's dump runs to tens of MB.
export function rangesOfHexDump(dump: string, ranges: readonly Interval[]): Map<number, Buffer> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const buffers = sorted.map(([, length]) => Buffer.alloc(length));
  const filled = sorted.map(() => 0);
  const line = new Uint8Array(16);
  let index = 0;
  for (let start = 0; start < dump.length;) {
    const newline = dump.indexOf('\n', start);
    const end = newline === -1 ? dump.length : newline;
    const read = hexDumpLine(dump, start, end, line);
    start = end + 1;
    if (read === undefined) continue;
    const [at, count] = read;
    if (index >= sorted.length || at < sorted[index]![0] || at >= sorted[index]![0] + sorted[index]![1])
      index = sorted.findIndex(([first, length]) => at >= first && at < first + length);
    const range = sorted[index];
    if (range === undefined || at + count > range[0] + range[1])
      throw new SendenseError(`qemu-io printed bytes at ${at}, outside the ranges asked for`);
    buffers[index]!.set(line.subarray(0, count), at - range[0]);
    filled[index]! += count;
  }
  sorted.forEach(([offset, length], i) => {
    if (filled[i] !== length)
      throw new SendenseError(`qemu-io read ${filled[i]} bytes at ${offset} where ${length} were asked`);
  });
  return new Map(sorted.map(([offset], i) => [offset, buffers[i]!] as const));
}

// One line "<offset in hex>:  xx xx … " of dump[start, end): its offset and how many bytes (1-16)
// it put into `into`; undefined for any other line.
function hexDumpLine(dump: string, start: number, end: number, into: Uint8Array): [number, number] | undefined {
  let at = start;
  let offset = 0;
  for (let digit = hexDigit(dump.charCodeAt(at)); at < end && digit >= 0; digit = hexDigit(dump.charCodeAt(++at)))
    offset = offset * 16 + digit;
  if (at === start || dump.charCodeAt(at) !== 58 || dump.charCodeAt(at + 1) !== 32 || dump.charCodeAt(at + 2) !== 32)
    return undefined; // ":  "
  at += 3;
  let count = 0;
  while (count < 16 && at + 2 < end) {
    const high = hexDigit(dump.charCodeAt(at));
    const low = hexDigit(dump.charCodeAt(at + 1));
    if (high < 0 || low < 0 || dump.charCodeAt(at + 2) !== 32) break;
    into[count++] = high * 16 + low;
    at += 3;
  }
  return count === 0 ? undefined : [offset, count];
}

// 0-9 and a-f (as qemu-io prints them), else -1.
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}
