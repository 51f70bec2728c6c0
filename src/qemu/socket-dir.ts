// The private temp directory of Unix sockets (a merge's, a point read by libguestfs, a run's
// served disks, the node transfer's own, a bucket view's). A kill -9 leaves it behind, empty once
// doctor has stopped its qemu-nbd (which removes the socket): the next command of the same kind
// removes it. Its name carries its maker's PID (`<prefix><pid in base 36>.XXXXXX`): one whose maker
// is alive is never touched, whatever the clocks say (a clock set forward once made a concurrent
// run's fresh directory look old); one without that tag (made by an older version) goes when it is
// a minute old. A directory still holding a socket is not ours to judge, unless its maker says
// each of its sockets is listened on until removed: then a socket that refuses a connection has no
// server left (its process was killed outright). docs/how-it-works.md#socket-directories

import { connect } from 'node:net';
import { mkdtemp, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../process/process-identity.js';

const STALE_DIR_MS = 60_000;

/** The private directory of the hub's qemu-nbd sockets of one run (start-qemu-nbd); doctor removes a dead run's. */
export const SERVE_SOCKET_DIR_PREFIX = 'sendense-serve-';

/** The private directory of the read-only qemu-nbd through which a verify (or a verified restore) reads a layer. */
export const VERIFY_SOCKET_DIR_PREFIX = 'sendense-verify-';

// `<pid in base 36>.` then mkdtemp's six letters or digits: no '-' or '.', so a longer prefix
// sharing the start of this one (sendense-serve-tls-) never parses as a tag.
const TAGGED = /^([0-9a-z]{1,8})\.[A-Za-z0-9]{6}$/;

/** The longest path makeSocketDir(prefix) can return (for socket path length checks). */
export function socketDirTemplate(prefix: string): string {
  return path.join(tmpdir(), `${prefix}${'z'.repeat(process.pid.toString(36).length)}.XXXXXX`);
}

// Whether a directory of `prefix` named `name` may be judged now: its maker is gone, or (no tag) it is a minute old.
function makerGone(prefix: string, name: string, mtimeMs: number): boolean {
  const tag = TAGGED.exec(name.slice(prefix.length));
  if (tag === null) return Date.now() - mtimeMs >= STALE_DIR_MS;
  const maker = Number.parseInt(tag[1], 36);
  return maker !== process.pid && !isProcessAlive(maker);
}

/**
 * A new 0700 directory `<tmp>/<prefix><pid>.XXXXXX`, after the stale ones of that prefix are removed.
 * `sweepDeadSockets`: every socket of such a directory is listened on from when it is made until
 * it is removed (a persistent qemu-nbd, the transfer's own, an NBD server of this process), so a
 * stale one whose sockets all refuse connections goes too.
 */
export async function makeSocketDir(prefix: string, { sweepDeadSockets = false } = {}): Promise<string> {
  const base = tmpdir();
  for (const name of (await readdir(base).catch(() => [] as string[])).filter((entry) => entry.startsWith(prefix))) {
    const dir = path.join(base, name);
    const info = await stat(dir).catch(() => undefined);
    if (
      info === undefined ||
      !info.isDirectory() ||
      info.uid !== process.getuid?.() ||
      !makerGone(prefix, name, info.mtimeMs)
    )
      continue;
    if (sweepDeadSockets) await removeDeadSockets(dir);
    await rmdir(dir).catch(() => undefined); // not empty: not ours to judge
  }
  return mkdtemp(path.join(base, `${prefix}${process.pid.toString(36)}.`));
}

// The sockets of `dir` when every entry is one that refuses connections; otherwise nothing.
async function removeDeadSockets(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (entries.length === 0 || !entries.every((entry) => entry.isSocket())) return;
  const sockets = entries.map((entry) => path.join(dir, entry.name));
  if (!(await Promise.all(sockets.map(refuses))).every(Boolean)) return;
  await Promise.all(sockets.map((socket) => rm(socket, { force: true })));
}

function refuses(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path: socket });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}
