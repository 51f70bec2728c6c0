// The hub's side of a copy: qemu-nbd serving a qcow2 read-write on 127.0.0.1 with --shared=10,
// as a run starts it; and the fresh qcow2 (or overlay) it serves.
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { freePort, waitForPort } from './free-port.js';
import { stopChild, trackChild } from './scratch.js';

// Replaces file with an empty qcow2 of size bytes, or an overlay on backing.
export function freshQcow2(file, { size, backing }) {
  rmSync(file, { force: true });
  const args = backing === undefined ? [file, String(size)] : ['-b', backing, '-F', 'qcow2', file];
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...args]);
  return file;
}

// Resolves once it accepts connections; env for qemu-nbd (default: this process's); readOnly
// serves it as the hub serves a restore's chain (-r).
export async function startQemuNbdTarget(file, { env, readOnly = false } = {}) {
  const port = await freePort();
  const args = [
    '-f',
    'qcow2',
    '--shared=10',
    '-t',
    ...(readOnly ? ['-r'] : []),
    '-b',
    '127.0.0.1',
    '-p',
    String(port),
    '-x',
    'target',
    file,
  ];
  const child = trackChild(spawn('qemu-nbd', args, { stdio: 'ignore', env }));
  await waitForPort(port);
  return { port, pid: child.pid, url: `nbd://127.0.0.1:${port}/target`, stop: () => stopChild(child) };
}
