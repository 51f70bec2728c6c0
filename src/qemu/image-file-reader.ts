// A local image's guest bytes read straight from its file (docs/how-it-works.md#a-verified-restore):
// `qemu-img map` says where each guest range lies in the file, or that it reads as zeroes, and the
// bytes are read from there with pread. Only for an image whose data lies in its file as the guest
// sees it: raw, or a qcow2 without a backing file, encryption, an external data file or
// compressed clusters. For anything else openImageFile says undefined and the caller reads through
// qemu-nbd, which knows every format.
//
// Reading from the page cache into a buffer that starts on a page boundary costs this machine's
// CPU a quarter of the same read into one that does not (1 GiB: 0.10 s of system time against
// 0.38-0.53 s); Node.js's large Buffers start 16 bytes into a page (glibc's malloc header), so the
// buffers here are WebAssembly memory, which starts on a page.

import { open, type FileHandle } from 'node:fs/promises';
import type { Interval } from '../repository/intervals.js';
import { hasExternalDataFile, isEncryptedQcow2, readBacking } from './qcow2-header.js';
import type { CommandRunner } from './command-runner.js';

export interface ImageFileReader {
  /** The guest size. */
  readonly size: number;
  /** The parts of [start, start + length) that may hold bytes other than zeroes, in order. */
  dataIn(start: number, length: number): Interval[];
  /**
   * The allocated parts of the whole image, in order, as a full backup copies them (runners/transfer/work-plan.ts):
   * data, and allocated ranges that read as zeroes; the rest (unallocated, zero clusters) is left out.
   */
  allocated(): AllocatedRange[];
  /** The guest bytes at [offset, offset + length), read into `buffer` (at least `length` long). */
  read(offset: number, length: number, buffer: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface AllocatedRange {
  readonly kind: 'copy' | 'zero';
  readonly offset: number;
  readonly length: number;
}

interface MapEntry {
  readonly start: number;
  readonly length: number;
  readonly depth: number;
  readonly zero: boolean;
  readonly data: boolean;
  readonly offset?: number;
}

const WASM_PAGE = 64 * 1024;

/** A buffer of at least `size` bytes that starts on a page boundary; `shared`: in a SharedArrayBuffer (a digest thread reads it without a copy). */
export function pageAlignedBuffer(size: number, shared = false): Buffer {
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE));
  const memory = new WebAssembly.Memory(shared ? { initial: pages, maximum: pages, shared } : { initial: pages });
  return Buffer.from(memory.buffer, 0, size);
}

export interface OpenImageFileOptions {
  /** Runs `qemu-img map` (the hub's runLocal; the node transfer's own runner, which bundles no execa). */
  readonly runner: CommandRunner;
  /**
   * The qemu filename of the file's own layer, without its backing chain (src/repository/own-layer.ts):
   * only what a backup file itself holds is read. Without it, a file with a backing file is refused.
   */
  readonly ownLayer?: string;
}

/** Undefined when the file's bytes are not the guest's as they lie (see above), or qemu-img cannot map it. */
export async function openImageFile(
  file: string,
  format: 'qcow2' | 'raw',
  options: OpenImageFileOptions,
): Promise<ImageFileReader | undefined> {
  if (format === 'qcow2' && !plainQcow2(file, options.ownLayer !== undefined)) return undefined;
  const image = options.ownLayer !== undefined ? [options.ownLayer] : ['-f', format, file];
  const result = await options.runner(['qemu-img', 'map', '--output=json', ...image]);
  if (result.exitCode !== 0) return undefined;
  const entries = JSON.parse(result.stdout) as MapEntry[];
  // Data from a backing file, or without a place in the file (a compressed cluster): not ours to read.
  if (entries.some((entry) => entry.depth !== 0 || (entry.data && !entry.zero && entry.offset === undefined)))
    return undefined;
  const handle = await open(file, 'r');
  return new MappedFile(handle, entries);
}

class MappedFile implements ImageFileReader {
  readonly size: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly entries: readonly MapEntry[],
  ) {
    const last = entries.at(-1);
    this.size = last === undefined ? 0 : last.start + last.length;
  }

  dataIn(start: number, length: number): Interval[] {
    const end = start + length;
    const found: Interval[] = [];
    for (let index = this.first(start); index < this.entries.length && this.entries[index]!.start < end; index++) {
      const entry = this.entries[index]!;
      if (entry.zero || !entry.data) continue;
      const from = Math.max(start, entry.start);
      const to = Math.min(end, entry.start + entry.length);
      const previous = found.at(-1);
      if (previous !== undefined && previous[0] + previous[1] === from)
        found[found.length - 1] = [previous[0], to - previous[0]];
      else found.push([from, to - from]);
    }
    return found;
  }

  allocated(): AllocatedRange[] {
    const found: AllocatedRange[] = [];
    for (const entry of this.entries) {
      if (!entry.data) continue;
      const kind = entry.zero ? 'zero' : 'copy';
      const previous = found.at(-1);
      if (previous !== undefined && previous.kind === kind && previous.offset + previous.length === entry.start)
        found[found.length - 1] = { kind, offset: previous.offset, length: previous.length + entry.length };
      else found.push({ kind, offset: entry.start, length: entry.length });
    }
    return found;
  }

  async read(offset: number, length: number, buffer: Buffer): Promise<Buffer> {
    const end = offset + length;
    if (end > this.size) throw new Error(`read past the end of the image (${end} > ${this.size})`);
    for (let index = this.first(offset); index < this.entries.length && this.entries[index]!.start < end; index++) {
      const entry = this.entries[index]!;
      const from = Math.max(offset, entry.start);
      const to = Math.min(end, entry.start + entry.length);
      if (entry.zero || !entry.data) {
        buffer.fill(0, from - offset, to - offset);
        continue;
      }
      for (let at = from; at < to;) {
        const { bytesRead } = await this.handle.read(buffer, at - offset, to - at, entry.offset! + (at - entry.start));
        if (bytesRead === 0) throw new Error(`the image file ends before guest offset ${at}`);
        at += bytesRead;
      }
    }
    return buffer.subarray(0, length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  // The index of the entry holding `offset` (entries are in order and cover the image).
  private first(offset: number): number {
    let low = 0;
    let high = this.entries.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.entries[middle]!.start <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}

// Its guest data lies in the file itself, unencrypted: no encryption (nor an unreadable header), no
// external data file, and no backing file unless only the file's own layer is read.
function plainQcow2(file: string, ownLayer: boolean): boolean {
  return (ownLayer || readBacking(file) === undefined) && !isEncryptedQcow2(file) && !hasExternalDataFile(file);
}
