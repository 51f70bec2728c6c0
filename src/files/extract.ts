// Extracts guest files and folders into a directory or an archive. Everything is first written
// into a staging directory beside the target (folders streamed from the appliance's tar_out,
// files from download, both through a FIFO and written by sendense-run: no device node, no
// setuid bit unless asked, zeros as holes; docs/file-level-restore.md), with modes, owners (when
// root), times and symlinks; then moved into place or archived, so a failure leaves the target as it was.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, readdirSync, rmdirSync } from 'node:fs';
import { chmod, lchown, lutimes, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { checkExtractTarget, type ExtractTarget } from './extract-target.js';
import { readFromAppliance } from './fifo-stream.js';
import { extractedName, formatGuestPath, type GuestPath } from './guest-path.js';
import { guestfsMessage, type GuestEntry, type GuestFiles } from './guest-files.js';
import { GuestfsCallError } from './guestfs-agent.js';
import { escapeGuestName } from './guest-name.js';
import { writeGuestTree } from './guest-tree-writer.js';
import { SparseFile } from './sparse-file.js';
import { tarEvents } from './tar-entries.js';
import { childEnv } from '../process/child-env.js';

export interface ExtractOptions {
  readonly overwrite: boolean;
  /** Keep setuid/setgid bits (else cleared: a guest's setuid-root file is no such file here). */
  readonly keepSetuid?: boolean;
  /** Progress and notes, one line each. */
  readonly progress?: (line: string) => void;
  /** How often a long copy reports its bytes (ms). */
  readonly progressEveryMs?: number;
}

export interface ExtractedPath {
  readonly from: string;
  readonly name: string;
  readonly type: GuestEntry['type'];
  readonly bytes: number;
}

/** What extraction reads from: the appliance (guestfsSource), or the fast path's reader. */
export interface ExtractSource {
  /** "VM pgtest1, backup …, disk 2000", for messages. */
  readonly where: string;
  stat(where: GuestPath): Promise<GuestEntry>;
  /** Before a path of filesystem `fs` is read. */
  use(fs: string): Promise<void>;
  /** A folder's tar stream (numeric owners), given to `read`; `dir` may hold a FIFO meanwhile. */
  folderTar<T>(guestDir: string, dir: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T>;
  /** A file's bytes, given to `read`; `dir` may hold a FIFO meanwhile. */
  fileBytes<T>(where: GuestPath, dir: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T>;
}

/** The appliance as an extraction source: tar_out and download through a FIFO. */
export function guestfsSource(files: GuestFiles): ExtractSource {
  return {
    where: files.where,
    stat: (where) => files.stat(where),
    use: async (fs) => void (await files.use(fs)),
    folderTar: (guestDir, dir, read) =>
      readFromAppliance(dir, (fifo) => files.agent.call('tar_out', [guestDir, fifo], { numericowner: 1 }), read),
    fileBytes: (where, dir, read) =>
      readFromAppliance(dir, (fifo) => files.agent.call('download', [where.path, fifo]), read),
  };
}

export interface ExtractResult {
  readonly target: ExtractTarget;
  readonly paths: readonly ExtractedPath[];
  readonly bytes: number;
}

const isRoot = process.getuid?.() === 0;
// Skipped entries (device nodes, FIFOs) named one line each up to this many, then counted.
const SKIPPED_SHOWN = 20;

export async function extractPaths(
  files: ExtractSource,
  wanted: readonly GuestPath[],
  target: ExtractTarget,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const exists = checkExtractTarget(target, options.overwrite);
  const entries: { where: GuestPath; entry: GuestEntry; name: string }[] = [];
  for (const where of wanted) {
    const entry = await files.stat(where);
    const name = extractedName(where);
    const clash = entries.find((other) => other.name === name);
    if (clash)
      throw new SendenseError(
        `${formatGuestPath(clash.where)} and ${formatGuestPath(where)} would both be extracted as '${name}': get them in two runs`,
      );
    const within = entries.find((other) => name.startsWith(`${other.name}/`) || other.name.startsWith(`${name}/`));
    if (within)
      throw new SendenseError(
        `${formatGuestPath(within.where)} and ${formatGuestPath(where)}: one lies inside the other; get the outer one only`,
      );
    entries.push({ where, entry, name });
  }
  const staging = mkdtempSync(path.join(path.dirname(target.path), `.${path.basename(target.path)}.sendense-`));
  try {
    const done: ExtractedPath[] = [];
    for (const { where, entry, name } of entries) {
      await files.use(where.fs);
      const bytes = await extractOne(files, where, entry, path.join(staging, 'files', name), options);
      done.push({ from: formatGuestPath(where), name, type: entry.type, bytes });
    }
    const names = entries.map((e) => e.name);
    if (target.format === 'dir') moveIntoDirectory(path.join(staging, 'files'), names, target.path, exists);
    else await archive(path.join(staging, 'files'), names, target, staging);
    return { target, paths: done, bytes: done.reduce((sum, p) => sum + p.bytes, 0) };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

async function extractOne(
  files: ExtractSource,
  where: GuestPath,
  entry: GuestEntry,
  local: string,
  options: ExtractOptions,
): Promise<number> {
  await mkdir(path.dirname(local), { recursive: true, mode: 0o700 });
  const label = formatGuestPath(where);
  try {
    if (entry.type === 'directory') {
      await mkdir(local, { mode: 0o700 });
      return await streamFolder(files, where.path, local, label, options);
    }
    if (entry.type === 'symlink') {
      await symlink(entry.target ?? '', local);
      if (isRoot) await lchown(local, entry.uid, entry.gid);
      await lutimes(local, entry.atime, entry.mtime);
      return 0;
    }
    if (entry.type !== 'file')
      throw new SendenseError(`${label} is a ${entry.type}: only files, folders and symlinks can be extracted`);
    options.progress?.(`${label}: copying ${formatBytes(entry.size)}`);
    return await streamFile(files, where, entry, local, options);
  } catch (error) {
    if (error instanceof SendenseError) throw error;
    throw new SendenseError(`could not extract ${label} (${files.where}): ${guestfsMessage(error)}`, { cause: error });
  }
}

// tar_out of a guest folder, read through a FIFO and written by writeGuestTree (never the host's tar).
async function streamFolder(
  files: ExtractSource,
  guestDir: string,
  local: string,
  label: string,
  options: ExtractOptions,
): Promise<number> {
  let streamed = 0;
  let skipped = 0;
  let lastReport = Date.now();
  const every = options.progressEveryMs ?? 5000;
  async function* counted(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of bytes) {
      streamed += chunk.length;
      if (Date.now() - lastReport >= every) {
        lastReport = Date.now();
        options.progress?.(`${label}: ${formatBytes(streamed)} so far`);
      }
      yield chunk;
    }
  }
  const skip = (name: Buffer, why: string) => {
    skipped++;
    if (skipped <= SKIPPED_SHOWN)
      options.progress?.(`${label.replace(/\/$/, '')}/${escapeGuestName(name)}: ${why}; skipped`);
  };
  options.progress?.(`${label}: copying folder`);
  try {
    await files.folderTar(guestDir, path.dirname(path.dirname(local)), (bytes) =>
      writeGuestTree(local, tarEvents(counted(bytes)), {
        keepSetuid: options.keepSetuid ?? false,
        owners: isRoot,
        skipped: skip,
      }),
    );
  } catch (error) {
    if (error instanceof GuestfsCallError || error instanceof SendenseError) throw error;
    throw new SendenseError(`could not extract ${label}: ${(error as Error).message}`, { cause: error });
  } finally {
    if (skipped > SKIPPED_SHOWN)
      options.progress?.(`${label}: ${skipped - SKIPPED_SHOWN} more skipped (${skipped} in all)`);
  }
  return streamed;
}

// A guest file's bytes (the appliance's download through a FIFO, or debugfs), its zeros as holes.
async function streamFile(
  files: ExtractSource,
  where: GuestPath,
  entry: GuestEntry,
  local: string,
  options: ExtractOptions,
): Promise<number> {
  return files.fileBytes(where, path.dirname(path.dirname(local)), async (bytes) => {
    const file = await SparseFile.create(local);
    try {
      for await (const chunk of bytes) await file.write(chunk);
    } catch (error) {
      await file.abandon();
      throw error;
    }
    const owner = isRoot ? { uid: entry.uid, gid: entry.gid } : {};
    return file.close({ ...owner, mode: extractedMode(entry.mode, options), mtime: entry.mtime, atime: entry.atime });
  });
}

// Without keepSetuid, setuid and setgid bits stay in the guest.
function extractedMode(mode: number, options: ExtractOptions): number {
  return options.keepSetuid ? mode : mode & ~0o6000;
}

function moveIntoDirectory(from: string, names: readonly string[], to: string, exists: boolean): void {
  if (!exists) {
    renameSync(from, to);
    return;
  }
  if (readdirSync(to).length === 0) {
    rmdirSync(to);
    renameSync(from, to);
    return;
  }
  // --overwrite into a non-empty directory: what has the same names is replaced, the rest stays.
  for (const name of names) {
    rmSync(path.join(to, name), { recursive: true, force: true });
    mkdirSync(path.dirname(path.join(to, name)), { recursive: true, mode: 0o700 });
    renameSync(path.join(from, name), path.join(to, name));
  }
}

// tar/tar.gz/zip of the staged names, written beside the target and renamed onto it.
async function archive(from: string, names: readonly string[], target: ExtractTarget, staging: string): Promise<void> {
  const partial = path.join(staging, target.format === 'zip' ? 'archive.zip' : 'archive.tar');
  const [command, args] =
    target.format === 'zip'
      ? ['zip', ['-q', '-r', '-y', partial, '--', ...names]]
      : [
          'tar',
          [
            '-c',
            '--sparse',
            target.format === 'tar.gz' ? '-z' : '',
            '-f',
            partial,
            '--numeric-owner',
            '-C',
            from,
            '--',
            ...names,
          ].filter(Boolean),
        ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd: from, stdio: ['ignore', 'ignore', 'pipe'], env: childEnv() });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SendenseError(
          error.code === 'ENOENT'
            ? `${command} is not installed: it is needed to write ${target.path}`
            : `${command}: ${error.message}`,
        ),
      ),
    );
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new SendenseError(`could not write ${target.path}: ${command} said: ${errors.trim() || `exit ${code}`}`),
          ),
    );
  });
  await chmod(partial, 0o600);
  renameSync(partial, target.path);
}
