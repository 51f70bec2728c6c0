// A copy in a bucket opened as a repository without fetching its backup files
// (docs/copies.md#reading-straight-from-a-bucket). DIR gets the copy's small files (marker, keyring,
// manifests, domain XML, .sendense-pruned) brought as `fetch` brings them, and each backup file as
// a read-only FUSE file of one qemu-storage-daemon, which reads it over NBD from a server in this
// process (bucket-nbd.ts) on a Unix socket in a private directory: that server reads the bucket in
// ranged GETs with the plan's keys, which never leave this process, from the version listed when
// the view opened. Every command that reads a repository reads DIR as one.
//
// The daemon is a child of this process that ends with it (setpriv --pdeathsig), unmounting its
// files as it exits; close() stops it by its PID (SIGTERM, then SIGKILL) and detaches any file it
// left mounted.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import { isMountPoint, unmountFuse } from '../../files/fuse-mount.js';
import { makeSocketDir } from '../../qemu/socket-dir.js';
import type { S3CopyTo } from '../../plan/types.js';
import { serveBucketNbd, type ServedObject } from './bucket-nbd.js';
import { DEFAULT_READ_AHEAD, pinObject, sdkRangeGet } from './bucket-blocks.js';
import { plainHttpRanges } from './plain-http-ranges.js';
import { s3Problem, type S3Keys } from './s3-client.js';
import { removeViewExports, writeViewExports } from '../../repository/view-export.js';
import { s3Description } from './s3-description.js';
import { fetchCopy, type FetchChoice, type Fetched } from './fetch-copy.js';
import { childEnv } from '../../process/child-env.js';

const MOUNT_WAIT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface BucketView extends Omit<Fetched, 'lazy'> {
  readonly dir: string;
  /** The backup files read from the bucket as they are read. */
  readonly files: number;
  /** What the view has read from the bucket so far. */
  served(): { readonly requests: number; readonly bytes: number };
  /** Settles when the daemon ends (by close(), or on its own: then the view no longer reads). */
  readonly ended: Promise<string>;
  close(): Promise<void>;
}

export async function openBucketView(
  client: S3Client,
  to: S3CopyTo,
  dir: string,
  choice: Omit<FetchChoice, 'lazy'>,
  heard: (relative: string) => void = () => {},
  readAhead: number = DEFAULT_READ_AHEAD,
  keys?: S3Keys,
): Promise<BucketView> {
  const description = s3Description(to);
  const fetched = await fetchCopy(client, to, dir, { ...choice, lazy: true }, heard);
  // Each file pinned to the object there now (its version, its ETag): a merge on the copy later does
  // not change it under a reader; without versions, reading it fails instead.
  const objects = new Map<string, ServedObject>();
  for (const [relative, object] of fetched.lazy) {
    const pinned = await pinObject(client, to.bucket, object.key, object.size).catch((error: unknown) => {
      throw s3Problem(description, `cannot read ${relative}`, error);
    });
    objects.set(relative, pinned);
  }
  // This process's server listens on its socket until close() removes the directory.
  const socketDir = await makeSocketDir('sendense-view-', { sweepDeadSockets: true });
  const socket = path.join(socketDir, 'nbd.sock');
  // From an http:// endpoint with the plan's keys, the GETs skip the SDK (plain-http-ranges.ts).
  const plain = keys === undefined ? undefined : plainHttpRanges(to.endpoint, to.region, to.bucket, keys);
  const server = await serveBucketNbd(plain?.get ?? sdkRangeGet(client, to.bucket), objects, socket, readAhead);
  const names = [...objects.keys()];
  // Placed by fetchCopy, inside DIR (key-path.ts): a symlink put there since is not followed.
  const mountpoints = names.map((relative) => fetched.lazy.get(relative)!.file);
  let daemon: ChildProcess;
  try {
    for (const file of mountpoints)
      await writeFile(file, '', {
        mode: 0o600,
        flag: constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
      });
    daemon = await startDaemon(socket, names, mountpoints);
  } catch (error) {
    await server.close();
    plain?.close();
    await rm(socketDir, { recursive: true, force: true });
    throw error;
  }
  // From now on qemu commands read the newest layer of a point straight from the socket; without
  // this file (it could not be written) they read the FUSE files, as fast as before.
  await writeViewExports(dir, socket, names).catch(() => {});
  const ended = new Promise<string>((resolve) =>
    daemon.once('exit', (code, signal) => resolve(signal ?? `exit status ${code}`)),
  );
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await removeViewExports(dir);
      const running = () => daemon.exitCode === null && daemon.signalCode === null;
      if (running()) daemon.kill('SIGTERM');
      // A daemon stuck on a read that cannot finish does not end on SIGTERM.
      const timer = setTimeout(() => running() && daemon.kill('SIGKILL'), STOP_GRACE_MS);
      await ended;
      clearTimeout(timer);
      for (const file of mountpoints) await unmountFuse(file, { lazy: true }).catch(() => {});
      await server.close();
      plain?.close();
      await rm(socketDir, { recursive: true, force: true });
    })());
  return { ...fetched, dir, files: objects.size, served: server.served, ended, close };
}

// qemu-storage-daemon: an NBD client node and a read-only FUSE export per file; ready once every file is mounted.
async function startDaemon(
  socket: string,
  names: readonly string[],
  mountpoints: readonly string[],
): Promise<ChildProcess> {
  const quote = (value: string) => value.replaceAll(',', ',,');
  const args = ['--pdeathsig', 'TERM', '--', 'qemu-storage-daemon'];
  names.forEach((name, index) => {
    args.push(
      '--blockdev',
      `driver=nbd,node-name=f${index},server.type=unix,server.path=${quote(socket)},export=${quote(name)},read-only=on`,
    );
    args.push(
      '--export',
      `type=fuse,id=e${index},node-name=f${index},mountpoint=${quote(mountpoints[index]!)},writable=off,allow-other=off`,
    );
  });
  const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv() });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new SendenseError(`cannot start qemu-storage-daemon: ${error.message}`)));
    child.once('exit', (code, signal) =>
      reject(
        new SendenseError(
          `qemu-storage-daemon ended before the view was ready (${signal ?? `exit status ${code}`}): ${lastLine(stderr)}`,
        ),
      ),
    );
  });
  failed.catch(() => {});
  try {
    const deadline = Date.now() + MOUNT_WAIT_MS;
    while (!mountpoints.every(isMountPoint)) {
      if (Date.now() > deadline)
        throw new SendenseError(
          `qemu-storage-daemon did not mount the view's files within ${MOUNT_WAIT_MS / 1000} s: ${lastLine(stderr)}`,
        );
      await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 50))]);
    }
  } catch (error) {
    child.kill('SIGKILL');
    for (const file of mountpoints) await unmountFuse(file, { lazy: true }).catch(() => {});
    throw error;
  }
  return child;
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter(Boolean)
      .at(-1)
      ?.replace(/^qemu-storage-daemon: /, '') ?? 'no message'
  );
}
