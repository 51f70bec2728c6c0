// New images: a full backup's qcow2, an incremental's overlay, a restore target.

import path from 'node:path';
import { SendenseError } from '../errors.js';
import { runLocal, type CommandRunner } from './command-runner.js';
import { qemuImgError } from './qemu-img-error.js';

export type ImageFormat = 'qcow2' | 'raw';

export interface CreateOptions {
  readonly runner?: CommandRunner;
  /** qemu-img create silently replaces a file; refuse unless told. */
  readonly overwrite?: boolean;
  /** Format options for `-o`, e.g. ['cluster_size=2M', 'extended_l2=on']. */
  readonly formatOptions?: readonly string[];
}

async function refuseExisting(file: string, options: CreateOptions, runner: CommandRunner): Promise<void> {
  if (options.overwrite) return;
  const exists = await runner(['test', '-e', file]);
  if (exists.exitCode === 0) throw new SendenseError(`image ${file} already exists (refusing to overwrite it)`);
}

export async function createImage(file: string, format: ImageFormat, sizeBytes: number, options: CreateOptions = {}): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new Error(`createImage: bad size ${sizeBytes}`);
  const runner = options.runner ?? runLocal;
  await refuseExisting(file, options, runner);
  const extra = options.formatOptions?.length ? ['-o', options.formatOptions.join(',')] : [];
  const result = await runner(['qemu-img', 'create', '-q', '-f', format, ...extra, file, String(sizeBytes)]);
  if (result.exitCode !== 0) throw qemuImgError('create image', file, result);
}

export function createQcow2(file: string, sizeBytes: number, options: CreateOptions = {}): Promise<void> {
  return createImage(file, 'qcow2', sizeBytes, options);
}

// The backing path is stored relative to the overlay's directory so the repository can move.
export async function createOverlay(file: string, backingFile: string, options: CreateOptions & { readonly backingFormat?: ImageFormat } = {}): Promise<void> {
  if (!path.isAbsolute(file) || !path.isAbsolute(backingFile)) {
    throw new Error(`createOverlay: paths must be absolute (${file}, ${backingFile})`);
  }
  const runner = options.runner ?? runLocal;
  await refuseExisting(file, options, runner);
  const relative = path.relative(path.dirname(file), backingFile);
  const argv = ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', relative, '-F', options.backingFormat ?? 'qcow2', file];
  const result = await runner(argv);
  if (result.exitCode !== 0) throw qemuImgError('create overlay', file, result);
}
