// Which repository, if any, holds a path: a restore target there is refused before anything runs
// (it would overwrite backups and leave the state database calling them complete).

import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import type { NodeHost } from '../node/node.js';
import type { Store } from '../store/index.js';
import { REPOSITORY_MARKER } from './marker.js';

// Prints the first directory at or above the (resolved) path that holds a marker, else nothing.
// Each turn cuts the last name off by parameter expansion, no command: the loop ends at / whatever
// happens to a process. (With d=$(dirname ...), a dirname killed or unable to fork left d empty,
// then ".", and the loop never ended: the fault campaign's hung restore.)
const FIND_MARKER = `d=$(realpath -m -- "$1") || exit 0; case $d in /*) ;; *) exit 0 ;; esac; while :; do if [ -e "$d/$2" ]; then printf '%s' "$d"; exit 0; fi; [ "$d" = / ] && exit 0; d=\${d%/*}; [ -n "$d" ] || d=/; done`;

// `known`: repositories of this hub (the state database's and the plan's), compared on this host only.
export async function repositoryHolding(
  node: NodeHost,
  target: string,
  known: readonly string[],
): Promise<string | undefined> {
  const marked = await node.exec(['sh', '-c', FIND_MARKER, 'sh', target, REPOSITORY_MARKER]);
  if (marked.exitCode === 0 && marked.stdout !== '') return marked.stdout;
  if (!node.isLocal) return undefined;
  const real = await resolved(target);
  for (const repository of known) {
    const root = await resolved(repository);
    if (real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return repository;
  }
  return undefined;
}

// The real path of its longest existing prefix, with the rest appended (like realpath -m).
async function resolved(file: string): Promise<string> {
  const rest: string[] = [];
  for (let current = path.resolve(file); ; current = path.dirname(current)) {
    try {
      return path.join(await realpath(current), ...rest.reverse());
    } catch {
      if (current === path.dirname(current)) return path.resolve(file);
      rest.push(path.basename(current));
    }
  }
}

// Refuses a restore destination (a disk image, an extraction directory or archive) inside any
// repository: the state database's, the plan's, or a marked one.
// `what` names it for the message, e.g. "target /x/disk-2000.qcow2 for disk 2000".
export async function refuseInsideRepository(
  node: NodeHost,
  store: Store,
  destination: string,
  what: string,
  planRepository?: string,
): Promise<void> {
  const known = [
    ...new Set([
      ...(planRepository === undefined ? [] : [planRepository]),
      ...(await store.listBackups()).map((backup) => backup.repository),
    ]),
  ];
  const repository = await repositoryHolding(node, destination, known);
  if (repository !== undefined) {
    throw new SendenseError(
      `${what} is inside the repository ${repository}: a restore never writes into a repository (choose a path outside it)`,
    );
  }
}
