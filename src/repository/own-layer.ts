// One backup file's own layer, without its backing chain (qemu's "backing": null): what that
// file itself holds, so a difference is found in the file that has it, not in its children.

import { L2_CACHE_BYTES } from '../qemu/image-opts.js';

// A qemu filename (json: pseudo-protocol) that opens `file` as qcow2 with no backing file, with
// the small L2 cache of every qcow2 we open (qemu/image-opts.ts).
export function ownLayerFilename(file: string): string {
  return `json:${JSON.stringify({ driver: 'qcow2', 'l2-cache-size': L2_CACHE_BYTES, backing: null, file: { driver: 'file', filename: file } })}`;
}
