// A run's own directory under the plan's scratch directory on the node: the backup job's socket
// and copy-before-write files live there, owned by the user QEMU runs as, and go with the run.

import { SendenseError } from '../errors.js';
import type { NodeExec } from './virsh.js';

export function runScratchDir(scratch: string, runId: string): string {
  return `${scratch.replace(/\/+$/, '')}/sendense-${runId}`;
}

// Made, given to QEMU's user and checked as that user by one command on the node (each command is
// a process here, an SSH round trip through a node); its exit status says which part failed.
const MAKE_DIR = [
  'mkdir -m 0750 -- "$1" || exit 101',
  '[ -z "$2" ] && exit 0',
  'chown "$2:$3" -- "$1" || exit 102',
  // As that user: can it reach and write the directory (every parent must be searchable)? 127: no setpriv, not checked.
  'setpriv --reuid="$2" --regid="$3" --clear-groups -- test -w "$1" -a -x "$1"',
  'rc=$?; [ "$rc" = 0 ] || [ "$rc" = 127 ] && exit 0',
  'exit 103',
].join('\n');

// Made 0750 for QEMU's user (uid:gid): it creates the socket and files in it; we read the socket as root.
export async function makeScratchDir(
  exec: NodeExec,
  scratch: string,
  dir: string,
  runsAs: { uid: number; gid: number } | undefined,
): Promise<void> {
  const owner = runsAs === undefined ? ['', ''] : [String(runsAs.uid), String(runsAs.gid)];
  const made = await exec(['sh', '-c', MAKE_DIR, 'sendense-scratch-dir', dir, ...owner]);
  if (made.exitCode === 0) return;
  const said = made.stderr.trim();
  if (made.exitCode === 102) {
    // Only root may: a user libvirt lets in still cannot run a backup job (docs/operations.md#libvirt-access).
    const notRoot = /Operation not permitted/i.test(said)
      ? ': a libvirt backup job needs root on the node (run the plan through a node that logs in as root; docs/operations.md#libvirt-access)'
      : '';
    throw new SendenseError(`cannot give ${dir} to the hypervisor's user (uid ${runsAs?.uid}): ${said}${notRoot}`);
  }
  if (made.exitCode === 103)
    throw new SendenseError(
      `scratch directory ${scratch} is not usable by the hypervisor's user (uid ${runsAs?.uid}): every directory on its path must be searchable by that user (chmod o+x)`,
    );
  throw new SendenseError(
    `cannot use scratch directory ${scratch} on the node: ${said || `mkdir exited ${made.exitCode}`}`,
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
