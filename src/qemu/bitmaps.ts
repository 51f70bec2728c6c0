// Persistent dirty bitmaps in a qcow2 image (docs/how-it-works.md#change-tracking-by-source: the qemu source's change_id).

import type { ExecResult } from '../node/node.js';
import { runLocal, type CommandRunner } from './command-runner.js';
import { bitmapArgv, bitmapMergeArgv } from './command-lines.js';
import { imageInfo } from './image-info.js';
import { qemuImgError } from './qemu-img-error.js';
import { crashPoint } from '../crash-points.js';
import { eachInTurns } from '../hub/in-turns.js';
import { SendenseError } from '../errors.js';

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
  /** Unique to the run, e.g. its id. */
  readonly tag: string;
  /**
   * The node is this host: its temp directory is this process's ($TMPDIR or /tmp, as its children
   * get it), and commands may run side by side (through SSH, each at once would be a session).
   */
  readonly thisHost?: boolean;
  record(dir: string): Promise<void>;
  forget(dir: string): Promise<void>;
}

/** One disk's new bitmap: `size` is the disk's as the backup records it; `added` is called the moment the bitmap exists. */
export interface MarkedBitmap {
  readonly file: string;
  readonly name: string;
  readonly size: number;
  readonly added: () => void;
}

// Disks whose bitmaps are added and merged at once on this host (each a short qemu-img process);
// more only queue for two cores. Through SSH one after another.
const AT_ONCE_HERE = 4;

/**
 * Adds each disk's bitmap and marks the disk's last byte dirty in it (docs/how-it-works.md#change-tracking-by-source):
 * a shrink clears a bitmap's bits past the cut and a grow adds clean ones, so after both it says
 * nothing changed where the disk now reads zeroes; the mark gone is how an incremental knows.
 * qemu-img cannot set a bit, so a write into a scratch image of the disk's size (the merge fails if
 * the disk's differs by now) sets it in the scratch's own bitmap, which is merged in. The scratch
 * images, one per size, are made on the node in one private temp directory of the run by one
 * shell (on this host while the bitmaps are added). After a failure no disk starts; the ones at
 * work end first.
 */
export async function addMarkedBitmaps(
  disks: readonly MarkedBitmap[],
  runner: CommandRunner,
  place: MarkPlace,
): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(place.tag))
    throw new Error(`a mark directory's tag must be a plain name (got ${place.tag})`);
  if (disks.length === 0) return;
  // On this host the old directories are swept while the rest goes on; on a node, first.
  const sweeping = runner(['sh', '-c', SWEEP_AND_PRINT_TMP]);
  const tmp = place.thisHost ? { exitCode: 0, stdout: process.env.TMPDIR ?? '', stderr: '' } : await sweeping;
  const base = tmp.stdout.trim().replace(/\/+$/, '') || '/tmp';
  if (tmp.exitCode !== 0 || !base.startsWith('/')) {
    await sweeping.catch(() => undefined);
    throw qemuImgError('find the temp directory for a bitmap mark on', 'the node', tmp);
  }
  const dir = `${base}/sendense-bitmap-mark.${place.tag}`;
  const atOnce = place.thisHost ? AT_ONCE_HERE : 1;
  const sizes = [...new Set(disks.map((disk) => disk.size))];
  const scratch = (size: number): string => `${dir}/mark-${size}.qcow2`;
  // Removed at the end only once this call made it: a directory already there (another's, or a
  // path someone put in its way) is never touched, and its record goes (doctor must not remove
  // it either). A shell that could not say (the link to the node lost) leaves the record to doctor.
  const scratchDir: { made: 'no' | 'yes' | 'unknown' } = { made: 'no' };
  try {
    await place.record(dir);
    const add = () =>
      eachInTurns(disks, atOnce, async (disk) => {
        await bitmapAdd(disk.file, disk.name, runner);
        disk.added();
      });
    const make = async () => {
      scratchDir.made = 'unknown';
      const bySize = sizes.flatMap((size) => [scratch(size), String(size), String(size - 512)]);
      const result = await runner(['sh', '-c', MAKE_MARKS, 'sendense-mark', dir, ...bySize]);
      scratchDir.made = result.stdout.startsWith('made\n') ? 'yes' : 'no';
      return result;
    };
    let made: ExecResult;
    if (place.thisHost) {
      const [adding, making] = await Promise.allSettled([add(), make()]);
      if (adding.status === 'rejected') throw adding.reason;
      if (making.status === 'rejected') throw making.reason;
      made = making.value;
    } else {
      await add();
      made = await make();
    }
    if (made.exitCode !== 0) throw qemuImgError('make the scratch images that mark the new bitmaps in', dir, made);
    crashPoint('qemu.bitmap-marking');
    await eachInTurns(disks, atOnce, async ({ file, name, size }) => {
      const merged = await runner(bitmapMergeArgv(file, name, { path: scratch(size), name: 'mark' }));
      if (merged.exitCode === 0) return;
      if (/different sizes/.test(merged.stderr))
        throw new SendenseError(`${file} changed size while its bitmap ${name} was being marked: run the backup again`);
      throw qemuImgError(`mark the end of bitmap ${name} in`, file, merged);
    });
  } finally {
    const removed = scratchDir.made === 'yes' ? await runner(['rm', '-rf', '--', dir]) : undefined;
    if (scratchDir.made === 'no' || removed?.exitCode === 0) await place.forget(dir);
    await sweeping.catch(() => undefined);
  }
}

// In the directory $1 (made here, private; it must not exist yet: "made" says it was), for each
// triple that follows (PATH SIZE FROM), a scratch image of SIZE bytes whose bitmap "mark" has the
// bytes from FROM on dirty.
const MAKE_MARKS = [
  'set -e',
  'why=$(mkdir -m 0700 -- "$1" 2>&1) || { echo "$1 could not be made to mark a bitmap (it must not exist yet): ${why#mkdir: }" >&2; exit 1; }',
  'echo made',
  'shift',
  'while [ "$#" -gt 0 ]; do',
  '  qemu-img create -q -f qcow2 "$1" "$2"',
  '  qemu-img bitmap --add -f qcow2 "$1" mark',
  '  qemu-io -f qcow2 -c "write -z $3 512" "$1" >/dev/null',
  '  shift 3',
  'done',
].join('\n');

// The node's $TMPDIR (or /tmp), printed after this user's mark directories of an older release
// (mktemp's 10-character names, never recorded) untouched for 10 minutes are removed there.
const SWEEP_AND_PRINT_TMP = [
  'tmp="${TMPDIR:-/tmp}"',
  'find "$tmp" -mindepth 1 -maxdepth 1 -type d -name "sendense-bitmap-mark.??????????" -user "$(id -u)" -mmin +10 -exec rm -rf -- {} + 2>/dev/null',
  'printf "%s" "$tmp"',
].join('\n');

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
