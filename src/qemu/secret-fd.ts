// The descriptor a qemu process reads the repository secret from (image-secret.ts): an unnamed
// file (O_TMPFILE) in RAM, so the secret has no name anyone could open and never reaches a disk.
// A pipe would do, but Node's child pipes are sockets, which /dev/fd/N cannot open.

import { closeSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ImageSecret } from './image-secret.js';

// Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Node passes numeric flags through to open(2).
const O_TMPFILE = 0o20200000;
const O_RDWR = 2;
// RAM first (tmpfs); the temp directory only where /dev/shm does not exist.
const PLACES = ['/dev/shm', tmpdir()];

// A descriptor holding the secret; the caller closes it once the child has it.
export function openSecretFd(secret: ImageSecret): number {
  let lastError: unknown;
  for (const dir of PLACES) {
    let fd: number;
    try {
      fd = openSync(dir, O_TMPFILE | O_RDWR, 0o600);
    } catch (error) {
      lastError = error;
      continue;
    }
    try {
      writeSync(fd, secret.passphrase);
      return fd;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }
  throw new Error(
    `cannot hold a secret for qemu (no O_TMPFILE in ${PLACES.join(' or ')}): ${(lastError as Error).message}`,
  );
}

// Runs `spawnWith(fd)` with the secret's descriptor (or none), closing ours once it returns.
export async function withSecretFd<T>(
  secret: ImageSecret | undefined,
  spawnWith: (fd: number | undefined) => Promise<T>,
): Promise<T> {
  if (secret === undefined) return spawnWith(undefined);
  const fd = openSecretFd(secret);
  try {
    return await spawnWith(fd);
  } finally {
    closeSync(fd);
  }
}

// The stdio entries that give a child the secret's descriptor as fd 3 (execa's types leave out a
// descriptor number for extra entries, which Node's spawn takes as it is).
export function secretStdio(fd: number | undefined): readonly 'pipe'[] {
  return fd === undefined ? [] : [fd as unknown as 'pipe'];
}
