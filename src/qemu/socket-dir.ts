// The private temp directory of a qemu-nbd's Unix socket (a merge's, a point read by libguestfs).
// A kill -9 leaves it behind, empty once doctor has stopped its qemu-nbd (which removes the
// socket): the next command of the same kind removes those a minute old. A directory still
// holding a socket is not ours to judge; a live one holds its socket milliseconds after it is made.

import { mkdtemp, readdir, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const STALE_DIR_MS = 60_000;

/** The private directory of the hub's qemu-nbd sockets of one run (start-qemu-nbd); doctor removes a dead run's. */
export const SERVE_SOCKET_DIR_PREFIX = 'sendense-serve-';

// A new 0700 directory `<tmp>/<prefix>XXXXXX`, after the stale ones of that prefix are removed.
export async function makeSocketDir(prefix: string): Promise<string> {
  const base = tmpdir();
  for (const name of (await readdir(base).catch(() => [] as string[])).filter((entry) => entry.startsWith(prefix))) {
    const dir = path.join(base, name);
    const info = await stat(dir).catch(() => undefined);
    if (info === undefined || !info.isDirectory() || info.uid !== process.getuid?.() || Date.now() - info.mtimeMs < STALE_DIR_MS) continue;
    await rmdir(dir).catch(() => undefined); // not empty: not ours to judge
  }
  return mkdtemp(path.join(base, prefix));
}
