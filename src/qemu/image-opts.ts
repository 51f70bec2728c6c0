// How our qemu-nbd processes open a qcow2 image: with --image-opts, so that the image and every
// qcow2 file of its backing chain has a small L2 cache. QEMU sizes a qcow2's L2 cache to cover the
// whole image, up to 32 MiB per file, and a copy of data spread over a large disk fills it: a
// 1 TiB disk with data every 512 MiB took qemu-nbd to 43 MB instead of 11 MB (bench/README.md).
// Our copies go through a disk in order, a few L2 tables at a time, so 1 MiB (16 tables of 64 KiB,
// mapping 8 GiB) costs them nothing, and the hub's memory budget holds whatever the disks' size.

import path from 'node:path';
import { isLuksQcow2, isQcow2, readBacking } from './qcow2-header.js';
import { SECRET_ID, secretObjectArgs, type ImageSecret } from './image-secret.js';
import { plainFileProblem, secretForLayer } from '../repository/repository-keys.js';
import { SendenseError } from '../errors.js';
import { viewExportOf } from '../repository/view-export.js';

/** The L2 cache of every qcow2 file our qemu processes open (1 MiB). */
export const L2_CACHE_BYTES = 1024 * 1024;
const L2_CACHE_SIZE = String(L2_CACHE_BYTES);
// A chain deeper than this is left to QEMU's defaults below it (a loop, or a damaged header).
const MAX_DEPTH = 1000;

/** An image as a qemu command opens it: its options, and the secret its encrypted layers need (fd 3). */
export interface ImageOpen {
  readonly args: readonly string[];
  readonly secret?: ImageSecret;
}

/**
 * qemu-nbd's arguments that name the image: bounded caches for a qcow2 file, the format otherwise
 * (also for a json: filename, which carries its own options: one layer read alone). `compress`:
 * every write goes through QEMU's compress filter (docs/encryption.md#compression).
 */
export function qemuNbdImageArgs(
  file: string,
  format: string,
  options: { readonly compress?: boolean; readonly secret?: ImageSecret } = {},
): ImageOpen {
  // A json: filename names its own key-secret (repository/own-layer.ts); the secret comes with it.
  if (format !== 'qcow2' || file.startsWith('json:'))
    return { args: [...secretObjectArgs(options.secret), `--format=${format}`, file], secret: options.secret };
  const { opts, secret } = qcow2ImageOpts(file, options.compress === true ? 'file.' : '');
  const filter = options.compress === true ? 'driver=compress,' : '';
  return { args: [...secretObjectArgs(secret), '--image-opts', filter + opts], secret };
}

/**
 * The --image-opts of a qcow2 file: L2 caches of 1 MiB on it and on each qcow2 file below it, and
 * on each LUKS-encrypted one the repository's secret (image-secret.ts). `prefix`: where the qcow2
 * node sits under a filter ('file.' below driver=compress). `fromBucketView`: its newest layer is
 * read from a bucket view's NBD socket.
 */
export function qcow2ImageOpts(
  file: string,
  prefix = '',
): { readonly opts: string; readonly secret?: ImageSecret; readonly fromBucketView: boolean } {
  const chain = [file, ...qcow2BackingChain(file)];
  // A bucket view's file is read from the view's NBD server, its backing file named outright
  // (QEMU has no directory to find it by its relative name beside an NBD node): view-export.ts.
  const view = prefix === '' ? viewExportOf(file) : undefined;
  const options = [
    'driver=qcow2',
    ...(view === undefined
      ? ['file.driver=file', `file.filename=${escapeOpt(file)}`]
      : [
          'file.driver=nbd',
          'file.server.type=unix',
          `file.server.path=${escapeOpt(view.socket)}`,
          `file.export=${escapeOpt(view.name)}`,
          ...(chain.length > 1
            ? ['backing.driver=qcow2', 'backing.file.driver=file', `backing.file.filename=${escapeOpt(chain[1]!)}`]
            : []),
        ]),
    `l2-cache-size=${L2_CACHE_SIZE}`,
  ];
  let secret: ImageSecret | undefined;
  chain.forEach((layer, level) => {
    const at = 'backing.'.repeat(level);
    if (level > 0) options.push(`${at}l2-cache-size=${L2_CACHE_SIZE}`);
    const plain = plainFileProblem(layer);
    if (plain !== undefined) throw new SendenseError(plain);
    if (isLuksQcow2(layer)) {
      secret ??= secretForLayer(layer);
      options.push(`${at}encrypt.key-secret=${SECRET_ID}`);
    }
  });
  return { opts: options.map((option) => prefix + option).join(','), secret, fromBucketView: view !== undefined };
}

// A value in QEMU's option syntax: a comma is doubled.
function escapeOpt(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The LUKS-encrypted files of `file`'s chain, the file itself first (qcow2BackingChain). */
export function encryptedLayers(file: string): string[] {
  return [file, ...qcow2BackingChain(file)].filter(isLuksQcow2);
}

/**
 * The secret a reader of `file` and its backing chain needs; undefined when no file of it is
 * encrypted. Asked before anything starts: a missing or wrong key fails here, in one line (exit 2).
 */
export function chainSecret(file: string): ImageSecret | undefined {
  // A plain file in an encrypted repository is refused here too: `files` reads a plain chain without qemu-nbd.
  for (const layer of [file, ...qcow2BackingChain(file)]) {
    const plain = plainFileProblem(layer);
    if (plain !== undefined) throw new SendenseError(plain);
  }
  const layer = encryptedLayers(file)[0];
  return layer === undefined ? undefined : secretForLayer(layer);
}

/** How many qcow2 files lie below `file` in its backing chain (qcow2BackingChain). */
export function qcow2BackingDepth(file: string): number {
  return qcow2BackingChain(file).length;
}

/**
 * The qcow2 files below `file` in its backing chain, read from the headers the way QEMU opens
 * them: a backing file named by a relative path is found beside the file that names it. The walk
 * stops (never counting too far: an option for a level QEMU does not open as qcow2 makes qemu-nbd
 * refuse the image) at a backing file that is not a qcow2 file on disk, or whose header says
 * another format, or is named by a protocol (nbd:, json:).
 */
export function qcow2BackingChain(file: string): string[] {
  const chain: string[] = [];
  let current = file;
  while (chain.length < MAX_DEPTH) {
    const backing = readBacking(current);
    if (backing === undefined || (backing.format !== undefined && backing.format !== 'qcow2')) return chain;
    if (!backing.name.startsWith('/') && /^[A-Za-z0-9+.-]+:/.test(backing.name)) return chain;
    const next = path.resolve(path.dirname(current), backing.name);
    if (!isQcow2(next)) return chain;
    chain.push(next);
    current = next;
  }
  return chain;
}
