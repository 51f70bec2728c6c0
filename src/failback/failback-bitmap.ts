// The standby's own changes (docs/replication.md#failback): a failover adds a persistent bitmap,
// sendense-failback, to each disk image the replica domain starts on, so every write the standby
// makes is recorded. A failback merges into it the original's checkpoint bitmap of the failover's
// point (what the original wrote after that point, lost since), and copies exactly what the merged
// bitmap marks. Across two nodes the original's bitmap travels in a small carrier image (qemu-img
// cannot set a bit; it can merge another image's bitmap).

import { SendenseError } from '../errors.js';
import type { NodeExec } from '../libvirt/virsh.js';
import { bitmapProblem } from '../qemu/bitmap-health.js';
import { bitmapArgv, bitmapMergeArgv, createScratchQcow2Argv } from '../qemu/command-lines.js';
import { imageInfoWith, type ImageInfo } from '../qemu/image-info.js';
import { qemuImgError } from '../qemu/qemu-img-error.js';

export const FAILBACK_BITMAP = 'sendense-failback';

// Added (or emptied, left by an earlier failover) before the replica domain starts on `image`.
export async function startFailbackBitmap(exec: NodeExec, image: string): Promise<void> {
  const info = await imageInfoWith(exec, image, { format: 'qcow2' });
  if (info.bitmaps.some((bitmap) => bitmap.name === FAILBACK_BITMAP))
    await qemuImg(
      exec,
      bitmapArgv('--remove', image, FAILBACK_BITMAP, 'qcow2'),
      `remove bitmap ${FAILBACK_BITMAP} of`,
      image,
    );
  await qemuImg(exec, bitmapArgv('--add', image, FAILBACK_BITMAP, 'qcow2'), `add bitmap ${FAILBACK_BITMAP} to`, image);
}

// Gone from `image` (a failback done); nothing when it has none.
export async function dropFailbackBitmap(exec: NodeExec, image: string): Promise<void> {
  const info = await imageInfoWith(exec, image, { format: 'qcow2' });
  if (!info.bitmaps.some((bitmap) => bitmap.name === FAILBACK_BITMAP)) return;
  await qemuImg(
    exec,
    bitmapArgv('--remove', image, FAILBACK_BITMAP, 'qcow2'),
    `remove bitmap ${FAILBACK_BITMAP} of`,
    image,
  );
}

// Why `name` in `info` cannot say what changed, in words; undefined when it can.
export function bitmapUnusable(info: ImageInfo, name: string, image: string): string | undefined {
  if (info.format !== 'qcow2') return `${image} is a ${info.format} image (no bitmaps)`;
  const problem = bitmapProblem(info.bitmaps, name);
  if (problem === undefined) return undefined;
  const said = {
    missing: 'has no bitmap',
    inconsistent: 'was not closed cleanly: its bitmap',
    disabled: 'has a disabled bitmap',
  };
  return `${image} ${said[problem]} ${name}${problem === 'inconsistent' ? ' cannot be trusted' : ''}`;
}

export interface BitmapSide {
  readonly exec: NodeExec;
  readonly image: string;
  /** Both on one host: the merge reads the original's image straight. */
  readonly sameHost: boolean;
}

// The original's `name` (on `original`) merged into the standby's failback bitmap (on `standby`):
// a union, so merging again after an interruption changes nothing.
export async function mergeOriginalBitmap(
  original: BitmapSide,
  standby: BitmapSide,
  name: string,
  virtualSize: number,
): Promise<void> {
  const merge = (from: string) => bitmapMergeArgv(standby.image, FAILBACK_BITMAP, { path: from, name });
  if (original.sameHost) {
    await qemuImg(standby.exec, merge(original.image), `merge bitmap ${name} of ${original.image} into`, standby.image);
    return;
  }
  // A carrier image of the disk's size holding only that bitmap, made beside the original, read as text, written beside the standby.
  const made = await original.exec(['mktemp', '-d', '/tmp/sendense-failback-XXXXXX']);
  if (made.exitCode !== 0) throw new SendenseError(`cannot make a temporary directory: ${made.stderr.trim()}`);
  const there = made.stdout.trim();
  let text: string;
  try {
    const carrier = `${there}/carrier.qcow2`;
    await qemuImg(original.exec, createScratchQcow2Argv(carrier, virtualSize), 'create', carrier);
    await qemuImg(
      original.exec,
      bitmapMergeArgv(carrier, name, { path: original.image, name }, { add: true }),
      `copy bitmap ${name} of ${original.image} into`,
      carrier,
    );
    const read = await original.exec(['base64', '-w0', '--', carrier]);
    if (read.exitCode !== 0) throw new SendenseError(`cannot read ${carrier}: ${read.stderr.trim()}`);
    text = read.stdout.trim();
  } finally {
    await original.exec(['rm', '-rf', '--', there]);
  }
  const placed = await standby.exec(['mktemp', '-d', '/tmp/sendense-failback-XXXXXX']);
  if (placed.exitCode !== 0) throw new SendenseError(`cannot make a temporary directory: ${placed.stderr.trim()}`);
  const here = placed.stdout.trim();
  try {
    const carrier = `${here}/carrier.qcow2`;
    const wrote = await standby.exec(['sh', '-c', 'base64 -d > "$1"', 'sh', carrier], {
      stdin: Buffer.from(text),
    });
    if (wrote.exitCode !== 0) throw new SendenseError(`cannot write ${carrier}: ${wrote.stderr.trim()}`);
    await qemuImg(standby.exec, merge(carrier), `merge bitmap ${name} of the original into`, standby.image);
  } finally {
    await standby.exec(['rm', '-rf', '--', here]);
  }
}

async function qemuImg(exec: NodeExec, argv: readonly string[], action: string, file: string): Promise<void> {
  const result = await exec(argv);
  if (result.exitCode !== 0) throw qemuImgError(action, file, result);
}
