// Persistent dirty bitmaps in a qcow2 image (docs/how-it-works.md#change-tracking-by-source: the qemu source's change_id).

import { runLocal, type CommandRunner } from './command-runner.js';
import { bitmapArgv } from './command-lines.js';
import { imageInfo } from './image-info.js';
import { qemuImgError } from './qemu-img-error.js';
import { crashPoint } from '../crash-points.js';

export interface Bitmap {
  readonly name: string;
  readonly inUse: boolean;
  /** False when the image was not closed cleanly since the bitmap was in use: its contents can't be trusted. */
  readonly consistent: boolean;
}

// Adds a persistent, enabled bitmap: from now on every write to the image is recorded in it.
export async function bitmapAdd(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const result = await runner(bitmapArgv('--add', file, name));
  if (result.exitCode !== 0) throw qemuImgError(`add bitmap ${name} to`, file, result);
}

/**
 * A run's mark directory, named for it and recorded before it exists (docs/how-it-works.md#change-tracking-by-source),
 * so a run killed while marking leaves nothing that doctor does not remove: `record` is told the
 * directory first, `forget` once it is gone.
 */
export interface MarkPlace {
  /** Unique to the run and disk, e.g. RUN-ID-KEY. */
  readonly tag: string;
  record(dir: string): Promise<void>;
  forget(dir: string): Promise<void>;
}

/**
 * Marks the last byte of the disk dirty in bitmap `name` (docs/how-it-works.md#change-tracking-by-source): a
 * shrink clears a bitmap's bits past the cut and a grow adds clean ones, so after both it says
 * nothing changed where the disk now reads zeroes; the mark gone is how an incremental knows.
 * qemu-img cannot set a bit, so a write into a scratch image of the same size sets it in the
 * scratch's own bitmap, which is merged in. Made on the node, in a private temp directory.
 */
export async function bitmapMarkEnd(
  file: string,
  name: string,
  runner: CommandRunner,
  place: MarkPlace,
): Promise<void> {
  const size = (await imageInfo(file, { runner, format: 'qcow2' })).virtualSize;
  const dir = await makeMarkDir(runner, place);
  const scratch = `${dir}/mark.qcow2`;
  try {
    const steps: readonly (readonly string[])[] = [
      ['qemu-img', 'create', '-q', '-f', 'qcow2', scratch, String(size)],
      ['qemu-img', 'bitmap', '--add', '-f', 'qcow2', scratch, 'mark'],
      ['qemu-io', '-f', 'qcow2', '-c', `write -z ${size - 512} 512`, scratch],
      ['qemu-img', 'bitmap', '--merge', 'mark', '-b', scratch, '-F', 'qcow2', '-f', 'qcow2', file, name],
    ];
    for (const argv of steps) {
      const result = await runner(argv);
      if (result.exitCode !== 0) throw qemuImgError(`mark the end of bitmap ${name} in`, file, result);
      crashPoint('qemu.bitmap-marking');
    }
  } finally {
    const removed = await runner(['rm', '-rf', '--', dir]);
    if (removed.exitCode === 0) await place.forget(dir);
  }
}

// The node's $TMPDIR (or /tmp), printed after this user's mark directories of an older release
// (mktemp's 10-character names, never recorded) untouched for 10 minutes are removed there.
const SWEEP_AND_PRINT_TMP = [
  'tmp="${TMPDIR:-/tmp}"',
  'find "$tmp" -mindepth 1 -maxdepth 1 -type d -name "sendense-bitmap-mark.??????????" -user "$(id -u)" -mmin +10 -exec rm -rf -- {} + 2>/dev/null',
  'printf "%s" "$tmp"',
].join('\n');

// $TMPDIR (or /tmp) of the node, the directory named for the run, recorded, then made private.
async function makeMarkDir(runner: CommandRunner, place: MarkPlace): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(place.tag))
    throw new Error(`a mark directory's tag must be a plain name (got ${place.tag})`);
  const tmp = await runner(['sh', '-c', SWEEP_AND_PRINT_TMP]);
  const base = tmp.stdout.trim().replace(/\/+$/, '') || '/tmp';
  if (tmp.exitCode !== 0 || !base.startsWith('/'))
    throw qemuImgError('find the temp directory for a bitmap mark on', 'the node', tmp);
  const dir = `${base}/sendense-bitmap-mark.${place.tag}`;
  await place.record(dir);
  const made = await runner(['mkdir', '-m', '0700', '--', dir]);
  if (made.exitCode !== 0) throw qemuImgError(`make ${dir} to mark a bitmap (it must not exist yet)`, dir, made);
  return dir;
}

export async function bitmapRemove(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const result = await runner(bitmapArgv('--remove', file, name));
  if (result.exitCode !== 0) throw qemuImgError(`remove bitmap ${name} from`, file, result);
}

// Meant for an image nobody has open: then "in-use" means the bitmap is inconsistent.
export async function listBitmaps(file: string, runner: CommandRunner = runLocal): Promise<readonly Bitmap[]> {
  const info = await imageInfo(file, { runner });
  return Object.freeze(
    info.bitmaps.map((bitmap) => Object.freeze({ name: bitmap.name, inUse: bitmap.inUse, consistent: !bitmap.inUse })),
  );
}
