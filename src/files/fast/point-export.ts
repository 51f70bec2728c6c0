// A point's disk as the fast path reads it (docs/file-level-restore.md#the-fast-path): the chain
// opened by a read-only qemu-nbd (which holds qemu's shared lock on every file of the chain, so a
// merge waits for us), on a Unix socket in a private directory that only the sandbox user and we
// can reach (a uid of this point's own when we are root: ./reader-user.ts); our own NBD client reads
// the partition table, and nbdfuse, run as the sandbox user, shows the export as one read-only file
// for debugfs (no allow_other: no other uid, root included, can open it). A partition is shown the
// same way as a file of its own (nbdkit's offset filter over the export, in nbdfuse's namespace) for
// readers that take no offset (ntfs-3g's tools). All of it dies with us and is stopped on close.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../../errors.js';
import { NbdConnection, parseNbdUrl } from '../../nbd/index.js';
import { childEnv } from '../../process/child-env.js';
import { startQemuNbd, type QemuNbd } from '../../qemu/qemu-nbd.js';
import { makeSocketDir } from '../../qemu/socket-dir.js';
import { pickReaderUser, type ReaderUser } from './reader-user.js';
import { sandboxArgv, sandboxStdio, type ReaderSandbox } from './sandbox.js';

const DIR_PREFIX = 'sendense-fast-';
const EXPORT_NAME = 'point';
const NBDFUSE_READY_MS = 15_000;
// Our client, and nbdfuse's (which would open 4 to a server that allows several: it waits for a fifth slot for ever).
const NBDFUSE_CONNECTIONS = 2;
// A partition's file: one more connection each (nbdkit's), at most this many per point.
const PARTITION_FILES = 4;
const CLIENTS = 1 + NBDFUSE_CONNECTIONS + PARTITION_FILES;

export interface PointExport {
  readonly size: number;
  /** How the point's readers run: as its own uid in nbdfuse's mount namespace when we are root. */
  sandbox(): ReaderSandbox;
  read(offset: number, length: number): Promise<Buffer>;
  /** The whole disk as a read-only file, which only the sandbox user can open (nbdfuse, started on first use). */
  diskFile(): Promise<string>;
  /** The bytes from `offset`, `size` long, as a read-only file of their own (as diskFile). */
  partitionFile(offset: number, size: number): Promise<string>;
  close(): Promise<void>;
}

export async function openPointExport(file: string): Promise<PointExport> {
  const user = await pickReaderUser();
  const dir = await makeSocketDir(DIR_PREFIX);
  let server: QemuNbd | undefined;
  let connection: NbdConnection | undefined;
  let fuse: ChildProcess | undefined;
  const partitionFuses: ChildProcess[] = [];
  const partitions = new Map<string, Promise<string>>();
  let mounted: Promise<string> | undefined;
  let mountNamespace: number | undefined;
  const close = async () => {
    await connection?.close().catch(() => {});
    for (const child of [...partitionFuses, fuse]) {
      if (child?.exitCode !== null || child.signalCode !== null) continue;
      const ended = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      await ended;
    }
    if (mountNamespace !== undefined) closeSync(mountNamespace);
    mountNamespace = undefined;
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await chmod(dir, 0o700);
    if (user) await chown(dir, user.uid, user.gid);
    server = await startQemuNbd({
      file,
      format: 'qcow2',
      socket: path.join(dir, 'nbd.sock'),
      exportName: EXPORT_NAME,
      shared: CLIENTS,
      readOnly: true,
      diesWithUs: true,
    });
    if (user) await chown(server.socket!, user.uid, user.gid);
    connection = await NbdConnection.connect(parseNbdUrl(server.url));
  } catch (error) {
    await close();
    throw error;
  }
  const url = server.url;
  const socket = server.socket!;
  const nbd = connection;
  const exportedDiskFile = () => exported.diskFile();
  const exported: PointExport = {
    size: nbd.size,
    sandbox: () => ({ user, mountNamespace }),
    read: async (offset, length) => (await nbd.read(offset, length)).data,
    diskFile: () =>
      (mounted ??= (async () => {
        const passwd = user && (await readerPasswd(dir, user));
        const shown = await showAsFile(dir, 'disk', user, (file) =>
          sandboxArgv(
            ['nbdfuse', '-r', '-C', String(NBDFUSE_CONNECTIONS), '-P', path.join(dir, 'disk.pid'), file, url],
            { user },
            { newPrivileges: true, passwd },
          ),
        );
        fuse = shown.child;
        if (user) mountNamespace = openSync(`/proc/${fuse.pid}/ns/mnt`, 'r');
        return shown.file;
      })()),
    // nbdkit (its nbd plugin on our socket, its offset filter) under nbdfuse, in the disk's namespace.
    partitionFile: async (offset, size) => {
      const key = `${offset}-${size}`;
      let shown = partitions.get(key);
      if (shown === undefined) {
        if (partitions.size >= PARTITION_FILES)
          throw new SendenseError(`more than ${PARTITION_FILES} partitions of one point read at once`);
        shown = (async () => {
          await exportedDiskFile();
          const name = `part-${partitions.size}`;
          const pidFile = path.join(dir, `${name}.pid`);
          const sandbox = { user, mountNamespace };
          const nbdkit = ['nbdkit', '-s', '--exit-with-parent', '--filter=offset', 'nbd'];
          const args = [`socket=${socket}`, `export=${EXPORT_NAME}`, `offset=${offset}`, `range=${size}`];
          const started = await showAsFile(
            dir,
            name,
            user,
            (file) =>
              sandboxArgv(['nbdfuse', '-r', '-P', pidFile, file, '--command', ...nbdkit, ...args], sandbox, {
                newPrivileges: true,
              }),
            sandbox,
          );
          partitionFuses.push(started.child);
          return started.file;
        })();
        partitions.set(key, shown);
      }
      return shown;
    },
    close,
  };
  return exported;
}

// An nbdfuse (argv made for its file) started in a 0700 folder of the sandbox user's, waited for until its pid file is written.
async function showAsFile(
  dir: string,
  name: string,
  user: ReaderUser | undefined,
  argvFor: (file: string) => string[],
  sandbox?: ReaderSandbox,
): Promise<{ readonly child: ChildProcess; readonly file: string }> {
  const mountDir = path.join(dir, name);
  await mkdir(mountDir, { mode: 0o700 });
  if (user) await chown(mountDir, user.uid, user.gid);
  const file = path.join(mountDir, 'point');
  const [command, ...args] = argvFor(file);
  const pidFile = args[args.indexOf('-P') + 1];
  const child = spawn(command, args, {
    stdio: sandbox
      ? ['ignore', 'ignore', 'pipe', ...sandboxStdio(sandbox, 'ignore').slice(3)]
      : ['ignore', 'ignore', 'pipe'],
    env: childEnv(),
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const started = Date.now();
  while (!(await readFile(pidFile, 'utf8').catch(() => '')).trim()) {
    if (child.exitCode !== null || Date.now() - started > NBDFUSE_READY_MS)
      throw new SendenseError(`nbdfuse could not show the point as a file: ${stderr.trim() || 'no answer'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, file };
}

// /etc/passwd and a line naming the reader's uid, for nbdfuse's mount namespace (../sandbox.ts).
async function readerPasswd(dir: string, user: ReaderUser): Promise<string> {
  const file = path.join(dir, 'passwd');
  const hosts = await readFile('/etc/passwd', 'utf8');
  const line = `sendense-reader:x:${user.uid}:${user.gid}:sendense-run files reader:/nonexistent:/usr/sbin/nologin\n`;
  await writeFile(file, `${hosts.endsWith('\n') || hosts === '' ? hosts : `${hosts}\n`}${line}`, { mode: 0o644 });
  return file;
}
