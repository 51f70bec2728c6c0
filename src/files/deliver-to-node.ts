// A file-level restore whose destination is on a node: the hub extracts through its own
// appliance into a scratch file (a tar for a directory destination, else the archive itself),
// serves it on a Unix socket in a private directory, reached from a socket in a private directory
// on the node through the SSH link (no other user of either host can read the files), and runs
// runners/files-receiver.cjs there with the node's `node` (the one the transfer uses), which writes
// it beside the destination and moves it into place when complete.

import { readFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { SendenseError } from '../errors.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import type { FilesRestoreRun } from '../kinds/restore-files/files-restore-run.js';
import { findPackageRoot } from '../node/package-root.js';
import type { ExtractTarget } from './extract-target.js';

const STEP = 'extract-files';

function receiverScript(): string {
  return readFileSync(join(findPackageRoot(), 'runners', 'files-receiver.cjs'), 'utf8');
}

async function receiver(run: FilesRestoreRun, args: readonly string[]): Promise<{ exitCode: number; stderr: string }> {
  const [node] = await run.node.transferCommand();
  return run.node.exec([node, '-e', receiverScript(), '--', ...args], { signal: run.signal });
}

// Refuses (one line) a destination on the node that may not be written, before any extraction.
export async function checkNodeTarget(run: FilesRestoreRun, target: ExtractTarget, overwrite: boolean): Promise<void> {
  const result = await receiver(run, ['check', target.path, target.format, String(overwrite)]);
  if (result.exitCode === 3)
    throw new SendenseError(`on ${run.node.description}: ${result.stderr.trim()}`, { step: STEP });
  if (result.exitCode !== 0)
    throw new SendenseError(
      `could not check ${target.path} on ${run.node.description}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
      { step: STEP },
    );
}

// Streams `file` (made on the hub) to the node, where it becomes `target`.
export async function sendToNode(
  run: FilesRestoreRun,
  file: string,
  target: ExtractTarget,
  overwrite: boolean,
): Promise<void> {
  const dir = await makeSocketDir('sendense-deliver-', { sweepDeadSockets: true });
  run.undo.push({
    what: `remove ${dir}`,
    when: 'always',
    step: STEP,
    run: () => rm(dir, { recursive: true, force: true }),
  });
  const socket = join(dir, 'files.sock');
  const server = await serveOnce(file, socket);
  run.undo.push({
    what: `stop serving ${file} on ${socket}`,
    when: 'always',
    step: STEP,
    run: () => new Promise((resolve) => server.close(() => resolve())),
  });
  const forwards = await run.node.forwardSockets([socket]);
  run.undo.push({
    what: `close the tunnel to ${run.node.description}`,
    when: 'always',
    step: STEP,
    run: () => forwards.close(),
  });
  const nodeSocket = forwards.nodeSockets.get(socket) ?? socket;
  const result = await receiver(run, ['receive', nodeSocket, target.path, target.format, String(overwrite)]);
  if (result.exitCode === 3)
    throw new SendenseError(`on ${run.node.description}: ${result.stderr.trim()}`, { step: STEP });
  if (result.exitCode !== 0)
    throw new SendenseError(
      `could not write ${target.path} on ${run.node.description}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
      { step: STEP },
    );
}

// Each connection gets the file's bytes, then the end; the socket's directory is this user's only.
function serveOnce(file: string, socket: string): Promise<Server> {
  const server = createServer((connection) => {
    connection.on('error', () => connection.destroy());
    createReadStream(file).pipe(connection);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}
