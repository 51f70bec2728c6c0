// Persistent dirty bitmaps in a qcow2 image (docs/how-it-works.md#change-tracking-by-source: the qemu source's change_id).

import { runLocal, type CommandRunner } from './command-runner.js';
import { imageInfo } from './image-info.js';
import { qemuImgError } from './qemu-img-error.js';
import { sourceCrashPoint } from '../source/test-seams.js';

export interface Bitmap {
  readonly name: string;
  readonly inUse: boolean;
  /** False when the image was not closed cleanly since the bitmap was in use: its contents can't be trusted. */
  readonly consistent: boolean;
}

// Adds a persistent, enabled bitmap: from now on every write to the image is recorded in it.
export async function bitmapAdd(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const result = await runner(['qemu-img', 'bitmap', '--add', file, name]);
  if (result.exitCode !== 0) throw qemuImgError(`add bitmap ${name} to`, file, result);
}

// A mark's private directory (mktemp -d: $TMPDIR or /tmp), after this user's that a killed run
// left there are removed: a mark takes a second, so one untouched for 10 minutes is nobody's.
const MAKE_MARK_DIR = [
  'dir=$(mktemp -d -t sendense-bitmap-mark.XXXXXXXXXX) || exit 1',
  'find "${dir%/*}" -mindepth 1 -maxdepth 1 -type d -name "sendense-bitmap-mark.*" -user "$(id -u)" -mmin +10 ! -path "$dir" -exec rm -rf -- {} + 2>/dev/null',
  'printf "%s\\n" "$dir"',
].join('\n');

/**
 * Marks the last byte of the disk dirty in bitmap `name` (docs/how-it-works.md#change-tracking-by-source): a
 * shrink clears a bitmap's bits past the cut and a grow adds clean ones, so after both it says
 * nothing changed where the disk now reads zeroes; the mark gone is how an incremental knows.
 * qemu-img cannot set a bit, so a write into a scratch image of the same size sets it in the
 * scratch's own bitmap, which is merged in. Made on the node, in a private temp directory.
 */
export async function bitmapMarkEnd(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const size = (await imageInfo(file, { runner, format: 'qcow2' })).virtualSize;
  const made = await runner(['sh', '-c', MAKE_MARK_DIR]);
  const dir = made.stdout.trim();
  if (made.exitCode !== 0 || !dir.startsWith('/')) throw qemuImgError(`make a temp directory to mark bitmap ${name} of`, file, made);
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
      sourceCrashPoint('bitmap-marking');
    }
  } finally {
    await runner(['rm', '-rf', '--', dir]);
  }
}

export async function bitmapRemove(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const result = await runner(['qemu-img', 'bitmap', '--remove', file, name]);
  if (result.exitCode !== 0) throw qemuImgError(`remove bitmap ${name} from`, file, result);
}

// Meant for an image nobody has open: then "in-use" means the bitmap is inconsistent.
export async function listBitmaps(file: string, runner: CommandRunner = runLocal): Promise<readonly Bitmap[]> {
  const info = await imageInfo(file, { runner });
  return Object.freeze(info.bitmaps.map((bitmap) => Object.freeze({ name: bitmap.name, inUse: bitmap.inUse, consistent: !bitmap.inUse })));
}
