// The node transfer's command line (runners/README.md), checked at the edge: every mistake
// names the option and the bad value, and exits with code 2.

import { parseArgs } from 'node:util';
import { usageError } from '../../src/errors.js';
import { parseNbdUrl, type NbdAddress } from '../../src/nbd/index.js';

/** Where a disk's data comes from or goes to. */
export type Endpoint =
  | { readonly kind: 'nbd'; readonly address: NbdAddress; readonly text: string }
  | { readonly kind: 'qemu'; readonly path: string; readonly format?: string }
  | { readonly kind: 'file'; readonly path: string; readonly format: string };

export interface DiskJob {
  readonly key: number;
  readonly source: Endpoint;
  readonly target: Endpoint;
  /** Incremental: copy exactly the extents dirty in this bitmap. */
  readonly bitmap?: string;
  /** Full mode: write the source's holes as zeroes too (the target holds old data). */
  readonly zeroHoles: boolean;
}

export interface TransferArgs {
  readonly disks: readonly DiskJob[];
  readonly connections: number;
  /** Disks copied at once (the hub's slots); default all. */
  readonly parallelDisks?: number;
  /** Requests in flight per disk (the hub's memory budget); default 16. */
  readonly inFlight?: number;
  readonly jobId?: string;
  /** Digests of what is written (SPEC section 9): a backup needs them, a restore does not. */
  readonly digests: boolean;
}

const FORMATS = new Set(['qcow2', 'raw']);
// NBD connections per disk: through an SSH tunnel each one is its own flow-control window, worth
// 1.5-2.8x over one at 20 ms RTT; on one host 1, 2 and 4 take the same time (bench/README.md).
const DEFAULT_CONNECTIONS = 4;

export function parseTransferArgs(argv: readonly string[]): TransferArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'nbd-targets': { type: 'string' },
        source: { type: 'string', multiple: true },
        format: { type: 'string', multiple: true },
        bitmap: { type: 'string', multiple: true },
        connections: { type: 'string' },
        'parallel-disks': { type: 'string' },
        'in-flight': { type: 'string' },
        'zero-holes': { type: 'boolean' },
        'no-digests': { type: 'boolean' },
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
  for (const [key, format] of formats) if (!FORMATS.has(format)) throw usageError(`--format ${key}=${format}: format must be qcow2 or raw`);
  const bitmaps = keyedValues('--bitmap', values.bitmap ?? []);
  const sources = new Map<number, Endpoint>();
  for (const [key, text] of keyedValues('--source', values.source ?? [])) sources.set(key, parseSource(key, text, formats.get(key)));
  const zeroHoles = values['zero-holes'] === true;
  const disks: DiskJob[] = [];
  for (const [key, target] of targets) {
    const source = sources.get(key);
    if (!source) throw usageError(`disk ${key} is in --nbd-targets but has no --source ${key}=...`);
    const bitmap = bitmaps.get(key);
    disks.push(Object.freeze(bitmap === undefined ? { key, source, target, zeroHoles } : { key, source, target, bitmap, zeroHoles }));
  }
  for (const key of [...sources.keys(), ...bitmaps.keys(), ...formats.keys()]) {
    if (!targets.has(key)) throw usageError(`disk ${key} has a --source/--bitmap/--format but no entry in --nbd-targets`);
  }
  const connections = values.connections === undefined ? DEFAULT_CONNECTIONS : Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 64) throw usageError(`--connections ${values.connections}: must be an integer from 1 to 64`);
  const parallelDisks = optionalCount('--parallel-disks', values['parallel-disks'], 1000);
  const inFlight = optionalCount('--in-flight', values['in-flight'], 64);
  return Object.freeze({ disks: Object.freeze(disks), connections, parallelDisks, inFlight, jobId: values['job-id'], digests: values['no-digests'] !== true });
}

function optionalCount(option: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw usageError(`${option} ${text}: must be an integer from 1 to ${max}`);
  return value;
}

// SPEC's NBD targets string: KEY:URL,KEY:URL (a URL may also be file:FORMAT:/abs/path).
function parseTargets(text: string): Map<number, Endpoint> {
  const targets = new Map<number, Endpoint>();
  for (const entry of text.split(',')) {
    const colon = entry.indexOf(':');
    const key = diskKey('--nbd-targets', entry.slice(0, colon));
    if (colon < 0 || targets.has(key)) throw usageError(`--nbd-targets: '${entry}' must be KEY:URL with each disk key once`);
    targets.set(key, parseTarget(entry.slice(colon + 1)));
  }
  return targets;
}

function parseTarget(text: string): Endpoint {
  const file = /^file:([a-z0-9]+):(\/.*)$/.exec(text);
  if (file) {
    if (!FORMATS.has(file[1]!)) throw usageError(`--nbd-targets: '${text}': format must be qcow2 or raw`);
    return Object.freeze({ kind: 'file', format: file[1]!, path: file[2]! });
  }
  return Object.freeze({ kind: 'nbd', address: nbdAddress('--nbd-targets', text), text });
}

function parseSource(key: number, text: string, format: string | undefined): Endpoint {
  if (text.startsWith('qemu:')) {
    const path = text.slice('qemu:'.length);
    if (!path.startsWith('/')) throw usageError(`--source ${key}=${text}: the image path must be absolute`);
    return Object.freeze(format === undefined ? { kind: 'qemu', path } : { kind: 'qemu', path, format });
  }
  if (format !== undefined) throw usageError(`--format ${key}=${format}: only qemu: sources take a format`);
  return Object.freeze({ kind: 'nbd', address: nbdAddress(`--source ${key}`, text), text });
}

function nbdAddress(option: string, text: string): NbdAddress {
  try {
    return parseNbdUrl(text);
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
