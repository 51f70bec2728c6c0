// A bucket view's backup files read by QEMU over NBD straight from the view's server, not through
// their FUSE files (docs/copies.md#reading-straight-from-a-bucket): each read of a FUSE file
// passes the kernel and qemu-storage-daemon one 128 KiB request at a time. While a view is open,
// DIR/.sendense-view names its process and socket; a qemu command that opens a point's newest
// layer there (image-opts.ts) reads that layer from the socket. Layers below it stay FUSE files:
// QEMU 7.2 finds a backing file by its relative name beside the file that names it, which an NBD
// node has no directory for.
//
// Trusted only when this user made it: a regular file, not a symlink, of this user, closed to
// others, naming a live process and a socket of this user's in a folder closed to others, and the
// file among the view's. Anything else is not a view: the FUSE file is read as before.

import { lstatSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { isProcessAlive, processStartTicks } from '../process/index.js';
import { createNewFile, readOwnFile } from './new-file.js';

export const VIEW_EXPORT_FILE = '.sendense-view';
const FORMAT = 'sendense-view';
const MOST_BYTES = 1024 * 1024;

export interface ViewExport {
  /** The view's NBD socket. */
  readonly socket: string;
  /** The export that serves the file: its path in DIR. */
  readonly name: string;
}

interface Descriptor {
  readonly format: string;
  readonly pid: number;
  readonly startTicks: number | null;
  readonly socket: string;
  readonly files: readonly string[];
}

/** Written by the view once its server listens; `files`: the backup files' paths in DIR. */
export async function writeViewExports(dir: string, socket: string, files: readonly string[]): Promise<void> {
  const descriptor: Descriptor = {
    format: FORMAT,
    pid: process.pid,
    startTicks: processStartTicks(process.pid) ?? null,
    socket,
    files,
  };
  const handle = await createNewFile(path.join(dir, VIEW_EXPORT_FILE), 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(descriptor)}\n`);
  } finally {
    await handle.close();
  }
}

export async function removeViewExports(dir: string): Promise<void> {
  await rm(path.join(dir, VIEW_EXPORT_FILE), { force: true });
}

/** Where an open view of this user's serves `file` (DIR/<vm>/disk-<key>/<id>.qcow2); else undefined. */
export function viewExportOf(file: string): ViewExport | undefined {
  const absolute = path.resolve(file);
  const dir = path.dirname(path.dirname(path.dirname(absolute)));
  const descriptor = readDescriptor(path.join(dir, VIEW_EXPORT_FILE));
  if (descriptor === undefined) return undefined;
  const name = path.relative(dir, absolute);
  if (!descriptor.files.includes(name)) return undefined;
  if (!isProcessAlive(descriptor.pid, descriptor.startTicks)) return undefined;
  if (!ownedAndClosed(path.dirname(descriptor.socket), 'directory') || !ownedAndClosed(descriptor.socket, 'socket'))
    return undefined;
  return { socket: descriptor.socket, name };
}

function readDescriptor(file: string): Descriptor | undefined {
  const text = readOwnFile(file, MOST_BYTES, { closed: true });
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<Descriptor>;
    if (
      parsed.format !== FORMAT ||
      !Number.isSafeInteger(parsed.pid) ||
      (parsed.startTicks !== null && !Number.isSafeInteger(parsed.startTicks)) ||
      typeof parsed.socket !== 'string' ||
      !path.isAbsolute(parsed.socket) ||
      !Array.isArray(parsed.files) ||
      !parsed.files.every((entry) => typeof entry === 'string')
    )
      return undefined;
    return parsed as Descriptor;
  } catch {
    return undefined;
  }
}

// This user's, not a symlink; a directory closed to group and others (a socket's own mode is the umask's).
function ownedAndClosed(entry: string, kind: 'directory' | 'socket'): boolean {
  try {
    const facts = lstatSync(entry);
    if (facts.uid !== process.geteuid?.()) return false;
    return kind === 'socket' ? facts.isSocket() : facts.isDirectory() && (facts.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
