// Disk images for tests: made and inspected with the real qemu tools.

import { execFileSync } from 'node:child_process';

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}

// qemu-io on an image, e.g. qemuIo(file, 'write -P 0x5 0 1M').
export function qemuIo(file: string, ...commands: string[]): void {
  const args = ['-f', 'qcow2'];
  for (const command of commands) args.push('-c', command);
  execFileSync('qemu-io', [...args, file], { encoding: 'utf8' });
}

// `qemu-img compare` exits 0 when the guest-visible contents are identical.
export function imagesEqual(a: string, b: string): boolean {
  try {
    execFileSync('qemu-img', ['compare', '-q', a, b]);
    return true;
  } catch {
    return false;
  }
}
