// Extracts guest files and folders into a directory or an archive. Everything is first written
// into a staging directory beside the target (folders streamed from the appliance's tar_out
// through a FIFO into the host's tar, files downloaded), with modes, owners (when root), times and
// symlinks; then moved into place or archived, so a failure leaves the target as it was.

import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, createReadStream, mkdtempSync, openSync, renameSync, rmSync, readdirSync, rmdirSync } from 'node:fs';
import { chmod, chown, lchown, lutimes, mkdir, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { checkExtractTarget, type ExtractTarget } from './extract-target.js';
import { extractedName, formatGuestPath, type GuestPath } from './guest-path.js';
import { guestfsMessage, type GuestEntry, type GuestFiles } from './guest-files.js';

export interface ExtractOptions {
  readonly overwrite: boolean;
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

export interface ExtractResult {
  readonly target: ExtractTarget;
  readonly paths: readonly ExtractedPath[];
  readonly bytes: number;
}

const isRoot = process.getuid?.() === 0;

export async function extractPaths(files: GuestFiles, wanted: readonly GuestPath[], target: ExtractTarget, options: ExtractOptions): Promise<ExtractResult> {
  const exists = checkExtractTarget(target, options.overwrite);
  const entries: { where: GuestPath; entry: GuestEntry; name: string }[] = [];
  for (const where of wanted) {
    const entry = await files.stat(where);
    const name = extractedName(where);
    const clash = entries.find((other) => other.name === name);
    if (clash) throw new SendenseError(`${formatGuestPath(clash.where)} and ${formatGuestPath(where)} would both be extracted as '${name}': get them in two runs`);
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

async function extractOne(files: GuestFiles, where: GuestPath, entry: GuestEntry, local: string, options: ExtractOptions): Promise<number> {
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
    if (entry.type !== 'file') throw new SendenseError(`${label} is a ${entry.type}: only files, folders and symlinks can be extracted`);
    options.progress?.(`${label}: copying ${formatBytes(entry.size)}`);
    await files.agent.call('download', [where.path, local]);
    if (isRoot) await chown(local, entry.uid, entry.gid);
    await chmod(local, entry.mode);
    await utimes(local, entry.atime, entry.mtime);
    return entry.size;
  } catch (error) {
    if (error instanceof SendenseError) throw error;
    throw new SendenseError(`could not extract ${label} (${files.where}): ${guestfsMessage(error)}`, { cause: error });
  }
}

// tar_out of a guest folder, written by the appliance into a FIFO, read here into `tar -x`.
async function streamFolder(files: GuestFiles, guestDir: string, local: string, label: string, options: ExtractOptions): Promise<number> {
  const fifo = path.join(path.dirname(path.dirname(local)), `stream-${Date.now()}.fifo`);
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const tar = spawn('tar', ['-x', '-f', '-', '-C', local, '--numeric-owner', ...(isRoot ? ['--same-owner', '--same-permissions'] : [])], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let tarErrors = '';
  tar.stderr.on('data', (chunk: Buffer) => (tarErrors = (tarErrors + chunk.toString()).slice(-2000)));
  const tarExit = new Promise<number | null>((resolve) => tar.once('close', resolve));
  let bytes = 0;
  let opened = false;
  let lastReport = Date.now();
  const every = options.progressEveryMs ?? 5000;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (Date.now() - lastReport >= every) {
        lastReport = Date.now();
        options.progress?.(`${label}: ${formatBytes(bytes)} so far`);
      }
      callback(null, chunk);
    },
  });
  const input = createReadStream(fifo);
  input.once('open', () => (opened = true));
  options.progress?.(`${label}: copying folder`);
  const reading = pipeline(input, counter, tar.stdin).catch((error: Error) => error);
  const writing = files.agent.call('tar_out', [guestDir, fifo], { numericowner: 1 }).then(
    () => undefined,
    async (error: Error) => {
      // The reader may still wait in open(): a writer that opens and closes gives it its EOF.
      for (let i = 0; i < 100 && !opened && !input.closed; i++) {
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      return error;
    },
  );
  const [writeError, readError, code] = await Promise.all([writing, reading, tarExit]);
  if (writeError) throw writeError;
  if (code !== 0) throw new SendenseError(`could not extract ${label}: tar said: ${tarErrors.trim() || `exit ${code}`}${readError ? ` (${readError.message})` : ''}`);
  return bytes;
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
    renameSync(path.join(from, name), path.join(to, name));
  }
}

// tar/tar.gz/zip of the staged names, written beside the target and renamed onto it.
async function archive(from: string, names: readonly string[], target: ExtractTarget, staging: string): Promise<void> {
  const partial = path.join(staging, target.format === 'zip' ? 'archive.zip' : 'archive.tar');
  const [command, args] =
    target.format === 'zip'
      ? ['zip', ['-q', '-r', '-y', partial, '--', ...names]]
      : ['tar', ['-c', target.format === 'tar.gz' ? '-z' : '', '-f', partial, '--numeric-owner', '-C', from, '--', ...names].filter(Boolean)];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd: from, stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(new SendenseError(error.code === 'ENOENT' ? `${command} is not installed: it is needed to write ${target.path}` : `${command}: ${error.message}`)),
    );
    child.once('close', (code) => (code === 0 ? resolve() : reject(new SendenseError(`could not write ${target.path}: ${command} said: ${errors.trim() || `exit ${code}`}`))));
  });
  await chmod(partial, 0o600);
  renameSync(partial, target.path);
}
