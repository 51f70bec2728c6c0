// Whether a file can be written past the page cache (O_DIRECT): most local filesystems can; ramfs
// and tmpfs before Linux 6.6 refuse the open with EINVAL. qemu-img's `-t none` opens its target the
// same way, so a file that fails this probe is written through the page cache instead.

import { closeSync, constants, openSync } from 'node:fs';

export function acceptsDirectIo(file: string): boolean {
  // O_NOFOLLOW: the probe opens exactly the file named (ours, just created), never through a symlink.
  const flags = constants.O_RDONLY | constants.O_DIRECT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(file, flags);
  } catch {
    return false;
  }
  closeSync(fd);
  return true;
}
