// `qemu-img compare`: do two images (each read through its backing chain) hold the same data?
// Unallocated and zero ranges compare equal, as a guest would see them.

import { runLocal, type CommandRunner } from './command-runner.js';
import { qemuReason } from './qemu-img-error.js';

export type CompareResult =
  | { readonly status: 'equal' }
  | { readonly status: 'different'; readonly detail: string }
  | { readonly status: 'error'; readonly detail: string };

export interface CompareOptions {
  readonly runner?: CommandRunner;
  readonly formatA?: string;
  readonly formatB?: string;
  /** -U: compare even while another process has an image open. */
  readonly forceShare?: boolean;
}

export async function compareImages(a: string, b: string, options: CompareOptions = {}): Promise<CompareResult> {
  const runner = options.runner ?? runLocal;
  const argv = [
    'qemu-img',
    'compare',
    ...(options.formatA ? ['-f', options.formatA] : []),
    ...(options.formatB ? ['-F', options.formatB] : []),
    ...(options.forceShare ? ['-U'] : []),
    a,
    b,
  ];
  const result = await runner(argv);
  // Exit codes (qemu-img(1)): 0 identical, 1 different, 2 error opening or reading.
  if (result.exitCode === 0) return { status: 'equal' };
  if (result.exitCode === 1) return { status: 'different', detail: result.stdout.trim() };
  return {
    status: 'error',
    detail: qemuReason(result.stderr) || `qemu-img compare exited with code ${result.exitCode}`,
  };
}
