// Copies an image's guest-visible bytes (read through its backing chain) into an existing target
// image with `qemu-img convert -n`: the restore fast path when the backup and the target are on
// the same host.

import type { ExecOptions, ExecResult } from '../node/node.js';
import type { ImageFormat } from './create-image.js';
import { qcow2ImageOpts } from './image-opts.js';
import { secretObjectArgs } from './image-secret.js';
import { qemuImgError } from './qemu-img-error.js';

export type SignalRunner = (argv: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

export interface ConvertOptions {
  /** The target was just made by qemu-img create (which truncates an existing file): holes need no write. */
  readonly targetIsZero: boolean;
  /** The target accepts O_DIRECT (direct-io.ts). */
  readonly targetTakesDirectIo: boolean;
  readonly signal?: AbortSignal;
}

export async function convertIntoImage(
  source: string,
  target: string,
  targetFormat: ImageFormat,
  runner: SignalRunner,
  options: ConvertOptions,
): Promise<void> {
  // -n: the target exists (created and checked by prepare-target) and is written, not replaced;
  // without --target-is-zero, holes are written as zeroes too, so no old byte can survive;
  // -t: flushed to disk before qemu-img exits, as the node transfer FLUSHes its target. A chain read
  // from a bucket view is written past the page cache (none: O_DIRECT, where the target's filesystem
  // allows): through the page cache the kernel's copying and writing back of pages took 2.3x the
  // CPU and 1.5x the time (2 GiB); a chain read from this host's disk is written through the page
  // cache (writeback), where O_DIRECT writes waited on the same disk's reads and took 1.5x as long.
  // -m 16: 16 reads in flight rather than 8, which a bucket view serves from its read-ahead
  // (bench/README.md#s3-lazy-restore).
  // Small L2 caches on every file of the source's chain and on a qcow2 target, as qemu-nbd opens
  // them (image-opts.ts): QEMU's default grows with the disk.
  const qcow2 = targetFormat === 'qcow2';
  const from = qcow2ImageOpts(source);
  const to = qcow2 ? qcow2ImageOpts(target) : undefined;
  const secret = from.secret ?? to?.secret;
  // setpriv --pdeathsig: the kernel ends qemu-img with this process, so a run killed outright
  // (kill -9) leaves no writer behind in the target doctor deletes (as runners/transfer/qemu-copy.ts).
  const argv = [
    'setpriv',
    '--pdeathsig',
    'KILL',
    '--',
    'qemu-img',
    'convert',
    '-n',
    ...(options.targetIsZero ? ['--target-is-zero'] : []),
    '-t',
    options.targetTakesDirectIo && from.fromBucketView ? 'none' : 'writeback',
    '-m',
    '16',
    ...secretObjectArgs(secret),
    '--image-opts',
    ...(qcow2 ? ['--target-image-opts'] : ['-O', targetFormat]),
    from.opts,
    to?.opts ?? target,
  ];
  const result = await runner(argv, { signal: options.signal, secret });
  if (result.exitCode !== 0) throw qemuImgError('restore into', target, result);
}
