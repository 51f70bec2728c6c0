// New images: a full backup's qcow2, an incremental's overlay, a restore target.

import path from 'node:path';
import { SendenseError } from '../errors.js';
import type { ExecResult } from '../node/node.js';
import { runLocal, type CommandRunner } from './command-runner.js';
import { SECRET_ID, secretObjectArgs, type ImageSecret } from './image-secret.js';
import { luksQcow2Unsupported, writeLuksQcow2, type LuksQcow2 } from './luks-qcow2.js';
import { qemuImgError } from './qemu-img-error.js';

export type ImageFormat = 'qcow2' | 'raw';

export interface CreateOptions {
  readonly runner?: CommandRunner;
  /** qemu-img create silently replaces a file; refuse unless told. */
  readonly overwrite?: boolean;
  /** Format options for `-o`, e.g. ['cluster_size=2M', 'extended_l2=on']. */
  readonly formatOptions?: readonly string[];
  /** A qcow2 encrypted with LUKS under the repository's secret (docs/encryption.md). */
  readonly secret?: ImageSecret;
  /** The codec of the qcow2's compressed clusters (docs/encryption.md#compression). */
  readonly compression?: 'zstd';
}

// LUKS options of a new file for qemu-img: AES-256-XTS (QEMU's default), its own random data key;
// the KDF kept short because the secret is 256 random bits (docs/encryption.md#how-layers-are-made).
function storageOptions(options: CreateOptions): string[] {
  return [
    ...(options.secret ? ['encrypt.format=luks', `encrypt.key-secret=${SECRET_ID}`, 'encrypt.iter-time=10'] : []),
    ...(options.compression ? [`compression_type=${options.compression}`] : []),
  ];
}

// QEMU times its PBKDF2 with the thread's CPU clock before writing a LUKS header and gives up with
// this message when the clock is too coarse to see 32768 rounds (seen on VMs); another try works.
const COARSE_CLOCK = /Unable to get accurate CPU usage/;
const CREATE_TRIES = 12;

async function runCreate(
  runner: CommandRunner,
  argv: readonly string[],
  secret: ImageSecret | undefined,
): Promise<ExecResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await runner(argv, { secret });
    if (result.exitCode === 0 || secret === undefined || attempt >= CREATE_TRIES || !COARSE_CLOCK.test(result.stderr))
      return result;
  }
}

// An encrypted qcow2 on this host in a shape luks-qcow2.ts writes: written there in milliseconds,
// where qemu-img times PBKDF2 for seconds (docs/encryption.md#how-layers-are-made). Anything else
// (a node's runner, other format options, a size to read from the backing file) is qemu-img's.
function ownLuksLayer(
  options: CreateOptions,
  sizeBytes: number | undefined,
  backing?: LuksQcow2['backing'],
): LuksQcow2 | undefined {
  const { secret } = options;
  if (secret === undefined || options.runner !== undefined || sizeBytes === undefined) return undefined;
  if (options.compression !== undefined) return undefined;
  const shape = clusterShape(options.formatOptions ?? []);
  if (shape === undefined || luksQcow2Unsupported({ sizeBytes, backing, ...shape }) !== undefined) return undefined;
  return { sizeBytes, secret, backing, overwrite: options.overwrite, ...shape };
}

// cluster_size and extended_l2 as qemu-img reads them; undefined for any other option.
function clusterShape(formatOptions: readonly string[]): Pick<LuksQcow2, 'clusterSize' | 'extendedL2'> | undefined {
  let shape: { clusterSize?: number; extendedL2?: boolean } = {};
  for (const option of formatOptions) {
    const size = /^cluster_size=(\d+)([kKmM]?)$/.exec(option);
    const extended = /^extended_l2=(on|off)$/.exec(option);
    if (size !== null)
      shape = {
        ...shape,
        clusterSize: Number(size[1]) * (size[2] === '' ? 1 : /k/i.test(size[2]!) ? 1024 : 1024 * 1024),
      };
    else if (extended !== null) shape = { ...shape, extendedL2: extended[1] === 'on' };
    else return undefined;
  }
  return shape;
}

async function writeOwnLuksLayer(action: string, file: string, layer: LuksQcow2): Promise<void> {
  try {
    await writeLuksQcow2(file, layer);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SendenseError(`cannot ${action} ${file}: no such file or directory`);
    if (code === 'EEXIST') throw new SendenseError(`image ${file} already exists (refusing to overwrite it)`);
    throw new SendenseError(`cannot ${action} ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function refuseExisting(file: string, options: CreateOptions, runner: CommandRunner): Promise<void> {
  if (options.overwrite) return;
  const exists = await runner(['test', '-e', file]);
  if (exists.exitCode === 0) throw new SendenseError(`image ${file} already exists (refusing to overwrite it)`);
}

export async function createImage(
  file: string,
  format: ImageFormat,
  sizeBytes: number,
  options: CreateOptions = {},
): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new Error(`createImage: bad size ${sizeBytes}`);
  const runner = options.runner ?? runLocal;
  await refuseExisting(file, options, runner);
  const own = format === 'qcow2' ? ownLuksLayer(options, sizeBytes) : undefined;
  if (own !== undefined) return writeOwnLuksLayer('create image', file, own);
  const formatOptions = [...(options.formatOptions ?? []), ...storageOptions(options)];
  const extra = formatOptions.length ? ['-o', formatOptions.join(',')] : [];
  const result = await runCreate(
    runner,
    ['qemu-img', 'create', '-q', ...secretObjectArgs(options.secret), '-f', format, ...extra, file, String(sizeBytes)],
    options.secret,
  );
  if (result.exitCode !== 0) throw qemuImgError('create image', file, result);
}

export function createQcow2(file: string, sizeBytes: number, options: CreateOptions = {}): Promise<void> {
  return createImage(file, 'qcow2', sizeBytes, options);
}

// The backing path is stored relative to the overlay's directory so the repository can move.
// With `sizeBytes`, the backing file is not opened (-u): it may be encrypted.
export async function createOverlay(
  file: string,
  backingFile: string,
  options: CreateOptions & { readonly backingFormat?: ImageFormat; readonly sizeBytes?: number } = {},
): Promise<void> {
  if (!path.isAbsolute(file) || !path.isAbsolute(backingFile)) {
    throw new Error(`createOverlay: paths must be absolute (${file}, ${backingFile})`);
  }
  const runner = options.runner ?? runLocal;
  await refuseExisting(file, options, runner);
  const relative = path.relative(path.dirname(file), backingFile);
  const backingFormat = options.backingFormat ?? 'qcow2';
  const own = ownLuksLayer(options, options.sizeBytes, { name: relative, format: backingFormat });
  if (own !== undefined) return writeOwnLuksLayer('create overlay', file, own);
  const formatOptions = storageOptions(options);
  const argv = [
    'qemu-img',
    'create',
    '-q',
    ...secretObjectArgs(options.secret),
    '-f',
    'qcow2',
    ...(formatOptions.length ? ['-o', formatOptions.join(',')] : []),
    ...(options.sizeBytes !== undefined ? ['-u'] : []),
    '-b',
    relative,
    '-F',
    backingFormat,
    file,
    ...(options.sizeBytes !== undefined ? [String(options.sizeBytes)] : []),
  ];
  const result = await runCreate(runner, argv, options.secret);
  if (result.exitCode !== 0) throw qemuImgError('create overlay', file, result);
}
