// `qemu-img resize --shrink`: a VMware full's provisional target cut to the disk's real size.

import { runLocal, type CommandRunner } from './command-runner.js';
import { qemuImgError } from './qemu-img-error.js';

export async function shrinkImage(file: string, sizeBytes: number, runner: CommandRunner = runLocal): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new Error(`shrinkImage: bad size ${sizeBytes}`);
  const result = await runner(['qemu-img', 'resize', '-q', '--shrink', '-f', 'qcow2', file, String(sizeBytes)]);
  if (result.exitCode !== 0) throw qemuImgError('resize image', file, result);
}
