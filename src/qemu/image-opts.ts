// How our qemu-nbd processes open a qcow2 image: with --image-opts, so that the image and every
// qcow2 file of its backing chain has a small L2 cache. QEMU sizes a qcow2's L2 cache to cover the
// whole image, up to 32 MiB per file, and a copy of data spread over a large disk fills it: a
// 1 TiB disk with data every 512 MiB took qemu-nbd to 43 MB instead of 11 MB (bench/README.md).
// Our copies go through a disk in order, a few L2 tables at a time, so 1 MiB (16 tables of 64 KiB,
// mapping 8 GiB) costs them nothing, and the hub's memory budget holds whatever the disks' size.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

/** The L2 cache of every qcow2 file our qemu processes open (1 MiB). */
export const L2_CACHE_BYTES = 1024 * 1024;
const L2_CACHE_SIZE = String(L2_CACHE_BYTES);
const QCOW2_MAGIC = 0x514649fb;
const BACKING_FORMAT_EXTENSION = 0xe2792aca;
// A chain deeper than this is left to QEMU's defaults below it (a loop, or a damaged header).
const MAX_DEPTH = 1000;

/**
 * qemu-nbd's arguments that name the image: bounded caches for a qcow2 file, the format otherwise
 * (also for a json: filename, which carries its own options: one layer read alone).
 */
export function qemuNbdImageArgs(file: string, format: string): string[] {
  return format === 'qcow2' && !file.startsWith('json:') ? ['--image-opts', qcow2ImageOpts(file)] : [`--format=${format}`, file];
}

/** The --image-opts of a qcow2 file: L2 caches of 1 MiB on it and on each qcow2 file below it. */
export function qcow2ImageOpts(file: string): string {
  const options = ['driver=qcow2', 'file.driver=file', `file.filename=${file.replaceAll(',', ',,')}`, `l2-cache-size=${L2_CACHE_SIZE}`];
  const depth = qcow2BackingDepth(file);
  for (let level = 1; level <= depth; level++) options.push(`${'backing.'.repeat(level)}l2-cache-size=${L2_CACHE_SIZE}`);
  return options.join(',');
}

/**
 * How many qcow2 files lie below `file` in its backing chain, read from the headers the way QEMU
 * opens them: a backing file named by a relative path is found beside the file that names it. The
 * walk stops (never counting too far: an option for a level QEMU does not open as qcow2 makes
 * qemu-nbd refuse the image) at a backing file that is not a qcow2 file on disk, or whose header
 * says another format, or is named by a protocol (nbd:, json:).
 */
export function qcow2BackingDepth(file: string): number {
  let depth = 0;
  let current = file;
  while (depth < MAX_DEPTH) {
    const backing = readBacking(current);
    if (backing === undefined || (backing.format !== undefined && backing.format !== 'qcow2')) return depth;
    if (!backing.name.startsWith('/') && /^[A-Za-z0-9+.-]+:/.test(backing.name)) return depth;
    const next = path.resolve(path.dirname(current), backing.name);
    if (!isQcow2(next)) return depth;
    depth++;
    current = next;
  }
  return depth;
}

// The backing file a qcow2 header names, and its format when the header says (qcow2 spec "Header"
// and "Header extensions"); undefined when there is none or the header cannot be read.
function readBacking(file: string): { readonly name: string; readonly format?: string } | undefined {
  // The header, its extensions and the backing file's name lie in the first cluster.
  const start = readHead(file, 104);
  if (start === undefined || start.length < 72 || start.readUInt32BE(0) !== QCOW2_MAGIC) return undefined;
  const clusterBits = start.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) return undefined;
  const head = readHead(file, 2 ** clusterBits);
  if (head === undefined || head.length < 72) return undefined;
  const version = head.readUInt32BE(4);
  const nameOffset = Number(head.readBigUInt64BE(8));
  const nameSize = head.readUInt32BE(16);
  if (nameOffset === 0 || nameSize === 0 || nameOffset + nameSize > head.length) return undefined;
  const name = head.toString('utf8', nameOffset, nameOffset + nameSize);
  let at = version >= 3 && head.length >= 104 ? head.readUInt32BE(100) : 72;
  let format: string | undefined;
  while (at + 8 <= head.length) {
    const type = head.readUInt32BE(at);
    const length = head.readUInt32BE(at + 4);
    if (type === 0 || at + 8 + length > head.length) break;
    if (type === BACKING_FORMAT_EXTENSION) format = head.toString('utf8', at + 8, at + 8 + length);
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return { name, format };
}

function isQcow2(file: string): boolean {
  const head = readHead(file, 4);
  return head !== undefined && head.length === 4 && head.readUInt32BE(0) === QCOW2_MAGIC;
}

function readHead(file: string, most: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(Math.min(most, fstatSync(fd).size));
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
