// A run's own directory under the plan's scratch directory on the node: the backup job's socket
// and copy-before-write files live there, owned by the user QEMU runs as, and go with the run.

import { SendenseError } from '../errors.js';
import type { NodeExec } from './virsh.js';

export function runScratchDir(scratch: string, runId: string): string {
  return `${scratch.replace(/\/+$/, '')}/sendense-${runId}`;
}

// Made 0750 for QEMU's user (uid:gid): it creates the socket and files in it; we read the socket as root.
export async function makeScratchDir(
  exec: NodeExec,
  scratch: string,
  dir: string,
  runsAs: { uid: number; gid: number } | undefined,
): Promise<void> {
  const made = await exec(['mkdir', '-m', '0750', '--', dir]);
  if (made.exitCode !== 0)
    throw new SendenseError(
      `cannot use scratch directory ${scratch} on the node: ${made.stderr.trim() || `mkdir exited ${made.exitCode}`}`,
    );
  if (runsAs === undefined) return;
  const owned = await exec(['chown', `${runsAs.uid}:${runsAs.gid}`, '--', dir]);
  if (owned.exitCode !== 0) {
    // Only root may: a user libvirt lets in still cannot run a backup job (docs/operations.md#libvirt-access).
    const notRoot = /Operation not permitted/i.test(owned.stderr)
      ? ': a libvirt backup job needs root on the node (run the plan through a node that logs in as root; docs/operations.md#libvirt-access)'
      : '';
    throw new SendenseError(
      `cannot give ${dir} to the hypervisor's user (uid ${runsAs.uid}): ${owned.stderr.trim()}${notRoot}`,
    );
  }
  // As that user: can it reach and write the directory (every parent must be searchable)?
  const check = await exec([
    'setpriv',
    `--reuid=${runsAs.uid}`,
    `--regid=${runsAs.gid}`,
    '--clear-groups',
    '--',
    'test',
    '-w',
    dir,
    '-a',
    '-x',
    dir,
  ]);
  if (check.exitCode === 0 || check.exitCode === 127) return;
  throw new SendenseError(
    `scratch directory ${scratch} is not usable by the hypervisor's user (uid ${runsAs.uid}): every directory on its path must be searchable by that user (chmod o+x)`,
  );
}

export async function removeScratchDir(exec: NodeExec, dir: string): Promise<void> {
  const result = await exec(['rm', '-rf', '--', dir]);
  if (result.exitCode !== 0) throw new SendenseError(`could not remove ${dir}: ${result.stderr.trim()}`);
}

// Writes a file in the run's directory from stdin (an XML document libvirt reads by path).
export async function writeNodeFile(exec: NodeExec, file: string, text: string): Promise<void> {
  const result = await exec(['tee', '--', file], { stdin: new TextEncoder().encode(text) });
  if (result.exitCode !== 0) throw new SendenseError(`could not write ${file}: ${result.stderr.trim()}`);
}
