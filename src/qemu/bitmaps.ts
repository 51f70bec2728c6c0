// Persistent dirty bitmaps in a qcow2 image (docs/how-it-works.md#change-tracking-by-source: the qemu source's change_id).

import { runLocal, type CommandRunner } from './command-runner.js';
import { imageInfo } from './image-info.js';
import { qemuImgError } from './qemu-img-error.js';

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

export async function bitmapRemove(file: string, name: string, runner: CommandRunner = runLocal): Promise<void> {
  const result = await runner(['qemu-img', 'bitmap', '--remove', file, name]);
  if (result.exitCode !== 0) throw qemuImgError(`remove bitmap ${name} from`, file, result);
}

// Meant for an image nobody has open: then "in-use" means the bitmap is inconsistent.
export async function listBitmaps(file: string, runner: CommandRunner = runLocal): Promise<readonly Bitmap[]> {
  const info = await imageInfo(file, { runner });
  return Object.freeze(info.bitmaps.map((bitmap) => Object.freeze({ name: bitmap.name, inUse: bitmap.inUse, consistent: !bitmap.inUse })));
}
