// What the hub asks of the node transfer, typed, and its command line (runners/README.md, "Command
// line"): transferArgv builds the argv the hub runs, parseTransferArgv reads it back on the node.
// Every mistake names the option and the bad value and is a usage error (the transfer exits 2).

import { parseArgs } from 'node:util';
import { usageError } from '../errors.js';
import { parseNbdUrl } from '../nbd/nbd-url.js';

export type TransferImageFormat = 'qcow2' | 'raw';

/**
 * Where a disk is read from: an image the transfer serves itself (qemu-nbd -r), an NBD export, or a
 * vSphere datastore file read over HTTPS by the read list in `listFile` (runners/README.md, "vsphere: sources").
 */
export type TransferSource =
  | { readonly kind: 'qemu'; readonly path: string; readonly format?: TransferImageFormat }
  | { readonly kind: 'nbd'; readonly url: string }
  | { readonly kind: 'vsphere'; readonly listFile: string };

/** The environment variable a vsphere: source's session cookie comes in (never on a command line). */
export const VSPHERE_COOKIE_ENV = 'SENDENSE_VSPHERE_COOKIE';

/** Where a disk is written: an NBD export, or an existing image the transfer serves itself (writable). */
export type TransferTarget =
  | { readonly kind: 'nbd'; readonly url: string }
  | { readonly kind: 'file'; readonly path: string; readonly format: TransferImageFormat };

/** How one disk is read: its source and, for an incremental, the bitmap whose dirty extents are copied. */
export interface TransferRead {
  readonly key: number;
  readonly source: TransferSource;
  /** Incremental: copy exactly the extents dirty in this bitmap (-B of a qemu source, a qemu:dirty-bitmap: context of an NBD one). */
  readonly bitmap?: string;
  /**
   * A byte offset the bitmap was marked dirty at when it was added (the last byte of the disk then,
   * docs/how-it-works.md#change-tracking-by-source): clean now, the disk shrank since, and every block is copied.
   */
  readonly bitmapMark?: number;
}

/** One disk of a transfer: how it is read and where it is written. */
export interface TransferDisk extends TransferRead {
  readonly target: TransferTarget;
  /**
   * qemu-img convert copies it (the hub decided: a local full, docs/how-it-works.md#a-local-full-backup):
   * a qemu: source with its format into a file: target, in a request with no bitmap, align, holes as zeroes, rate or digests off.
   */
  readonly copy?: TransferCopy;
}

/** What copies a disk instead of the transfer over NBD. */
export type TransferCopy = 'qemu-img';

/** One run of the node transfer. Options left out take the transfer's defaults. */
export interface TransferRequest {
  readonly disks: readonly TransferDisk[];
  /** For log lines only. */
  readonly jobId?: string;
  /** NBD connections per disk (default 4). */
  readonly connections?: number;
  /** Disks copied at once (the hub's slots); default all. */
  readonly parallelDisks?: number;
  /** Requests in flight per disk (the hub's memory budget); default 16. */
  readonly inFlight?: number;
  /** Full mode: write the source's holes as zeroes too (every target holds old data). */
  readonly zeroHoles?: true;
  /** false: no digests lines (a restore records nothing from its copy). Default true. */
  readonly digests?: false;
  /**
   * Writes whole blocks of this many bytes, aligned, each at most once: a compressing target
   * (docs/encryption.md#compression). A power of two from 512 to 2 MiB.
   */
  readonly align?: number;
  /**
   * Bytes per second all disks together may read from their sources (docs/bandwidth.md); the
   * hub changes it while the transfer runs with control lines on stdin (transfer-control.ts).
   */
  readonly rate?: number;
}

/** The transfer's only argument when it is started ahead of its job: the request comes on stdin. */
export const ARGS_ON_STDIN = '--args-on-stdin';

const FORMATS: ReadonlySet<string> = new Set<TransferImageFormat>(['qcow2', 'raw']);
const MAX_CONNECTIONS = 64;
const MAX_PARALLEL_DISKS = 1000;
const MAX_IN_FLIGHT = 64;
const MIN_ALIGN = 512;
const MAX_ALIGN = 2 * 1024 * 1024;

export function transferArgv(request: TransferRequest): string[] {
  const argv: string[] = [];
  if (request.jobId !== undefined) argv.push('--job-id', request.jobId);
  argv.push(
    '--nbd-targets',
    nbdTargetsString(request.disks.map((disk) => ({ key: disk.key, url: transferTargetText(disk.target) }))),
  );
  for (const { key, source, bitmap, bitmapMark } of request.disks) {
    argv.push('--source', `${key}=${sourceText(source)}`);
    if (source.kind === 'qemu' && source.format !== undefined) argv.push('--format', `${key}=${source.format}`);
    if (bitmap !== undefined) argv.push('--bitmap', `${key}=${bitmap}`);
    if (bitmapMark !== undefined) argv.push('--bitmap-mark', `${key}=${bitmapMark}`);
  }
  for (const { key, copy } of request.disks) if (copy !== undefined) argv.push('--copy', `${key}=${copy}`);
  if (request.connections !== undefined) argv.push('--connections', String(request.connections));
  if (request.parallelDisks !== undefined) argv.push('--parallel-disks', String(request.parallelDisks));
  if (request.inFlight !== undefined) argv.push('--in-flight', String(request.inFlight));
  if (request.zeroHoles === true) argv.push('--zero-holes');
  if (request.digests === false) argv.push('--no-digests');
  if (request.align !== undefined) argv.push('--align', String(request.align));
  if (request.rate !== undefined) argv.push('--rate', String(request.rate));
  return argv;
}

// The NBD targets string: "2000:nbd://127.0.0.1:10100/pgtest1-disk-2000,2001:…" (also what the VMware client takes).
export function nbdTargetsString(targets: readonly { readonly key: number; readonly url: string }[]): string {
  return targets.map((target) => `${target.key}:${target.url}`).join(',');
}

// --args-on-stdin: the first line on stdin is the argv as a JSON array of strings.
export function argsOnStdinLine(request: TransferRequest): string {
  return `${JSON.stringify(transferArgv(request))}\n`;
}

export function parseArgsOnStdinLine(line: string): TransferRequest {
  let argv: unknown;
  try {
    argv = JSON.parse(line);
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv) || !argv.every((arg) => typeof arg === 'string'))
    throw usageError(`${ARGS_ON_STDIN}: the first line must be a JSON array of strings`);
  return parseTransferArgv(argv);
}

export function parseTransferArgv(argv: readonly string[]): TransferRequest {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'nbd-targets': { type: 'string' },
        source: { type: 'string', multiple: true },
        format: { type: 'string', multiple: true },
        bitmap: { type: 'string', multiple: true },
        'bitmap-mark': { type: 'string', multiple: true },
        copy: { type: 'string', multiple: true },
        connections: { type: 'string' },
        'parallel-disks': { type: 'string' },
        'in-flight': { type: 'string' },
        'zero-holes': { type: 'boolean' },
        'no-digests': { type: 'boolean' },
        align: { type: 'string' },
        rate: { type: 'string' },
        'job-id': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  if (!values['nbd-targets']) throw usageError('--nbd-targets is required');
  const targets = parseTargets(values['nbd-targets']);
  const formats = keyedValues('--format', values.format ?? []);
  for (const [key, format] of formats)
    if (!FORMATS.has(format)) throw usageError(`--format ${key}=${format}: format must be qcow2 or raw`);
  const bitmaps = keyedValues('--bitmap', values.bitmap ?? []);
  const marks = new Map<number, number>();
  for (const [key, text] of keyedValues('--bitmap-mark', values['bitmap-mark'] ?? [])) {
    if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)))
      throw usageError(`--bitmap-mark ${key}=${text}: the mark must be a byte offset`);
    if (!bitmaps.has(key)) throw usageError(`--bitmap-mark ${key}=${text}: disk ${key} has no --bitmap`);
    marks.set(key, Number(text));
  }
  const sources = new Map<number, TransferSource>();
  for (const [key, text] of keyedValues('--source', values.source ?? []))
    sources.set(key, parseSource(key, text, formats.get(key) as TransferImageFormat | undefined));
  const copies = keyedValues('--copy', values.copy ?? []);
  const disks: TransferDisk[] = [];
  for (const [key, target] of targets) {
    const source = sources.get(key);
    if (!source) throw usageError(`disk ${key} is in --nbd-targets but has no --source ${key}=...`);
    const bitmap = bitmaps.get(key);
    const bitmapMark = marks.get(key);
    const copy = copies.get(key);
    disks.push(
      Object.freeze({
        key,
        source,
        target,
        ...(bitmap !== undefined && { bitmap, ...(bitmapMark !== undefined && { bitmapMark }) }),
        ...(copy !== undefined && { copy: copyOf(key, copy, source, target, bitmap) }),
      }),
    );
  }
  for (const key of [...sources.keys(), ...bitmaps.keys(), ...formats.keys(), ...copies.keys()]) {
    if (!targets.has(key))
      throw usageError(`disk ${key} has a --source/--bitmap/--format/--copy but no entry in --nbd-targets`);
  }
  const request: { -readonly [K in keyof TransferRequest]: TransferRequest[K] } = { disks: Object.freeze(disks) };
  if (values['job-id'] !== undefined) request.jobId = values['job-id'];
  const connections = optionalCount('--connections', values.connections, MAX_CONNECTIONS);
  if (connections !== undefined) request.connections = connections;
  const parallelDisks = optionalCount('--parallel-disks', values['parallel-disks'], MAX_PARALLEL_DISKS);
  if (parallelDisks !== undefined) request.parallelDisks = parallelDisks;
  const inFlight = optionalCount('--in-flight', values['in-flight'], MAX_IN_FLIGHT);
  if (inFlight !== undefined) request.inFlight = inFlight;
  if (values['zero-holes'] === true) request.zeroHoles = true;
  if (values['no-digests'] === true) request.digests = false;
  if (values.align !== undefined) request.align = alignment(values.align);
  if (values.rate !== undefined) request.rate = bytesPerSecond(values.rate);
  if (copies.size > 0) checkCopiesFit(request);
  return Object.freeze(request);
}

// qemu-img copies every byte at once into a fresh file: not in a request that shapes or limits its writes.
function checkCopiesFit(request: TransferRequest): void {
  const against = Object.entries({ align: request.align, 'zero-holes': request.zeroHoles, rate: request.rate })
    .filter(([, value]) => value !== undefined)
    .map(([option]) => `--${option}`);
  if (request.digests === false) against.push('--no-digests');
  if (against.length > 0) throw usageError(`--copy: qemu-img cannot copy with ${against.join(', ')}`);
}

// --copy KEY=qemu-img: a qemu: source of a named format into a file: target, no bitmap (a full).
function copyOf(
  key: number,
  copy: string,
  source: TransferSource,
  target: TransferTarget,
  bitmap: string | undefined,
): TransferCopy {
  if (copy !== 'qemu-img') throw usageError(`--copy ${key}=${copy}: the only copy is qemu-img`);
  if (source.kind !== 'qemu' || source.format === undefined || target.kind !== 'file')
    throw usageError(`--copy ${key}=${copy}: needs a qemu: source with its --format and a file: target`);
  if (bitmap !== undefined) throw usageError(`--copy ${key}=${copy}: a full only, not with --bitmap`);
  return copy;
}

/** One entry of the NBD targets string after its "KEY:": an NBD URL or file:FORMAT:/abs/path. */
export function parseTransferTarget(text: string): TransferTarget {
  const file = /^file:([a-z0-9]+):(\/.*)$/.exec(text);
  if (file) {
    if (!FORMATS.has(file[1]!)) throw usageError(`--nbd-targets: '${text}': format must be qcow2 or raw`);
    return Object.freeze({ kind: 'file', format: file[1] as TransferImageFormat, path: file[2]! });
  }
  checkNbdUrl('--nbd-targets', text);
  return Object.freeze({ kind: 'nbd', url: text });
}

function sourceText(source: TransferSource): string {
  if (source.kind === 'qemu') return `qemu:${source.path}`;
  return source.kind === 'vsphere' ? `vsphere:${source.listFile}` : source.url;
}

/** A target as the targets string names it: its NBD URL, or `file:FORMAT:/abs/path`. */
export function transferTargetText(target: TransferTarget): string {
  return target.kind === 'file' ? `file:${target.format}:${target.path}` : target.url;
}

function optionalCount(option: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw usageError(`${option} ${text}: must be an integer from 1 to ${max}`);
  return value;
}

// --align: a power of two from 512 to 2 MiB (a request the copy cuts is a whole number of blocks).
function alignment(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < MIN_ALIGN || value > MAX_ALIGN || (value & (value - 1)) !== 0) {
    throw usageError(`--align ${text}: must be a power of two from ${MIN_ALIGN} to ${MAX_ALIGN}`);
  }
  return value;
}

// --rate: a whole number of bytes per second, at least 1.
function bytesPerSecond(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
    throw usageError(`--rate ${text}: must be a whole number of bytes per second, at least 1`);
  return value;
}

function parseTargets(text: string): Map<number, TransferTarget> {
  const targets = new Map<number, TransferTarget>();
  for (const entry of text.split(',')) {
    const colon = entry.indexOf(':');
    const key = diskKey('--nbd-targets', entry.slice(0, colon));
    if (colon < 0 || targets.has(key))
      throw usageError(`--nbd-targets: '${entry}' must be KEY:URL with each disk key once`);
    targets.set(key, parseTransferTarget(entry.slice(colon + 1)));
  }
  return targets;
}

function parseSource(key: number, text: string, format: TransferImageFormat | undefined): TransferSource {
  if (text.startsWith('qemu:')) {
    const path = text.slice('qemu:'.length);
    if (!path.startsWith('/')) throw usageError(`--source ${key}=${text}: the image path must be absolute`);
    return Object.freeze(format === undefined ? { kind: 'qemu', path } : { kind: 'qemu', path, format });
  }
  if (format !== undefined) throw usageError(`--format ${key}=${format}: only qemu: sources take a format`);
  if (text.startsWith('vsphere:')) {
    const listFile = text.slice('vsphere:'.length);
    if (!listFile.startsWith('/')) throw usageError(`--source ${key}=${text}: the read list's path must be absolute`);
    return Object.freeze({ kind: 'vsphere', listFile });
  }
  checkNbdUrl(`--source ${key}`, text);
  return Object.freeze({ kind: 'nbd', url: text });
}

function checkNbdUrl(option: string, text: string): void {
  try {
    parseNbdUrl(text);
  } catch (error) {
    throw usageError(`${option}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// Repeated KEY=VALUE options into a map, each key once.
function keyedValues(option: string, entries: readonly string[]): Map<number, string> {
  const map = new Map<number, string>();
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    if (equals < 0) throw usageError(`${option} ${entry}: expected KEY=VALUE`);
    const key = diskKey(option, entry.slice(0, equals));
    if (map.has(key)) throw usageError(`${option}: disk ${key} given twice`);
    const value = entry.slice(equals + 1);
    if (!value) throw usageError(`${option} ${entry}: empty value`);
    map.set(key, value);
  }
  return map;
}

function diskKey(option: string, text: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`${option}: disk key '${text}' must be a number`);
  return Number(text);
}
