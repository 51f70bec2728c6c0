// A removed point's change tracking goes with it: its bitmap on a source of this host, so a chain
// nothing can continue leaves nothing recording every write of the VM (docs/how-it-works.md#forget).
// A source elsewhere, or in use (its VM running), is left and said.

import { existsSync } from 'node:fs';
import { LOCAL_NODE_ID } from '../node/node.js';
import { bitmapRemove, listBitmaps } from '../qemu/index.js';
import type { Backup } from '../store/index.js';

// Returns a line for each bitmap left behind.
export async function releasePointBitmaps(backup: Backup): Promise<readonly string[]> {
  const left: string[] = [];
  for (const disk of backup.disks) {
    if (disk.bitmap === null) continue;
    if (disk.sourceNode !== LOCAL_NODE_ID) {
      left.push(
        `bitmap ${disk.bitmap} left on ${disk.source} of node ${disk.sourceNode}: remove it there (qemu-img bitmap --remove)`,
      );
      continue;
    }
    if (!existsSync(disk.source)) continue;
    try {
      const present = await listBitmaps(disk.source);
      if (present.some((bitmap) => bitmap.name === disk.bitmap)) await bitmapRemove(disk.source, disk.bitmap);
    } catch (error) {
      left.push(
        `bitmap ${disk.bitmap} left on ${disk.source} (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  return left;
}
