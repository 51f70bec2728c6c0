// The bytes of data an image holds through its backing chain (qemu-img map): what a copy of its
// allocated data moves, as the node transfer counts it (docs/json-events.md, run-end).

import type { SignalRunner } from './convert-image.js';
import { qcow2ImageOpts } from './image-opts.js';
import { secretObjectArgs } from './image-secret.js';
import { qemuImgError } from './qemu-img-error.js';

export async function allocatedBytes(file: string, runner: SignalRunner, signal?: AbortSignal): Promise<number> {
  const { opts, secret } = qcow2ImageOpts(file);
  const result = await runner(['qemu-img', 'map', ...secretObjectArgs(secret), '--output=json', '--image-opts', opts], {
    signal,
    secret,
  });
  if (result.exitCode !== 0) throw qemuImgError('map', file, result);
  const entries = JSON.parse(result.stdout) as { readonly length: number; readonly data: boolean }[];
  return entries.reduce((sum, entry) => sum + (entry.data ? entry.length : 0), 0);
}
