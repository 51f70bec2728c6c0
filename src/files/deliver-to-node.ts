// A file-level restore whose destination is on a node: the hub extracts through its own
// appliance into a scratch file (a tar for a directory destination, else the archive itself),
// serves it once on a leased 127.0.0.1 port, forwards that port through the SSH link, and
// runs runners/files-receiver.cjs there with the node's `node` (the one the transfer uses),
// which writes it beside the destination and moves it into place when complete.

import { readFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { SendenseError } from '../errors.js';
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
  if (result.exitCode === 3) throw new SendenseError(`on ${run.node.description}: ${result.stderr.trim()}`, { step: STEP });
  if (result.exitCode !== 0) throw new SendenseError(`could not check ${target.path} on ${run.node.description}: ${result.stderr.trim() || `exit ${result.exitCode}`}`, { step: STEP });
}

// Streams `file` (made on the hub) to the node, where it becomes `target`.
export async function sendToNode(run: FilesRestoreRun, file: string, target: ExtractTarget, overwrite: boolean): Promise<void> {
  const { first, last } = run.plan.nbd.ports;
  const leased = await run.store.leasePorts({ runId: run.runId, count: 1, first, last });
  run.undo.push({ what: `release port ${leased.ports[0]}`, when: 'always', step: STEP, run: async () => void (await run.store.releasePorts(run.runId)) });
  const port = leased.ports[0];
  const server = await serveOnce(file, port);
  run.undo.push({ what: `stop serving ${file} on 127.0.0.1:${port}`, when: 'always', step: STEP, run: () => new Promise((resolve) => server.close(() => resolve())) });
  const forwards = await run.node.forwardPorts([port]);
  run.undo.push({ what: `close the tunnel to ${run.node.description}`, when: 'always', step: STEP, run: () => forwards.close() });
  const nodePort = forwards.nodePorts.get(port) ?? port;
  const result = await receiver(run, ['receive', String(nodePort), target.path, target.format, String(overwrite)]);
  if (result.exitCode === 3) throw new SendenseError(`on ${run.node.description}: ${result.stderr.trim()}`, { step: STEP });
  if (result.exitCode !== 0) throw new SendenseError(`could not write ${target.path} on ${run.node.description}: ${result.stderr.trim() || `exit ${result.exitCode}`}`, { step: STEP });
}

// 127.0.0.1 only: each connection gets the file's bytes, then the end.
function serveOnce(file: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    createReadStream(file).pipe(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
