// Before a chain is read (a restore, `files`, `mount`) or built on (the next incremental), and by
// verify: every file of it is there with a sound header, and each file's backing file is the one
// the database says is its parent's (docs/how-it-works.md#verification). QEMU follows whatever
// backing name a header holds: one rewritten to point at another file of the repository would be
// read as this point's data, and no digest of the file's own layer would notice.

import path from 'node:path';
import type { DiskKey } from '../plan/types.js';
import { qcow2HeaderProblem, readBacking } from '../qemu/qcow2-header.js';
import type { Backup } from '../store/index.js';
import { layerIdentityProblem } from './layer-identity.js';

export interface ChainFileProblem {
  readonly backupId: string;
  readonly diskKey: DiskKey;
  readonly file: string;
  /**
   * missing: the file is gone or unreadable; damaged: its header; backing: it names another parent;
   * identity: (encrypted) its authenticated manifest does not name this file (layer-identity.ts).
   */
  readonly kind: 'missing' | 'damaged' | 'backing' | 'identity';
  readonly message: string;
}

// The first problem of `chain` (oldest first, as store.chainOf gives it), for the disks named.
// `read`: the chain is about to be read (a restore, `serve`, `files`), so in an encrypted
// repository each file must also be the one its point's authenticated manifest names.
export function chainFileProblem(
  chain: readonly Backup[],
  diskKeys?: readonly DiskKey[],
  { read = false } = {},
): ChainFileProblem | undefined {
  for (const [index, link] of chain.entries()) {
    const parent = index === 0 ? undefined : chain[index - 1];
    for (const disk of link.disks) {
      if (diskKeys !== undefined && !diskKeys.includes(disk.diskKey)) continue;
      const parentFile = parent?.disks.find((candidate) => candidate.diskKey === disk.diskKey)?.file;
      const problem = fileProblem(disk.file, parentFile) ?? (read ? identityProblem(disk.file) : undefined);
      if (problem !== undefined) return { backupId: link.id, diskKey: disk.diskKey, file: disk.file, ...problem };
    }
  }
  return undefined;
}

function identityProblem(file: string): Pick<ChainFileProblem, 'kind' | 'message'> | undefined {
  const message = layerIdentityProblem(file);
  return message === undefined ? undefined : { kind: 'identity', message };
}

// One file: its header, then its backing name against the parent's file (none for a full).
export function fileProblem(
  file: string,
  parentFile: string | undefined,
): Pick<ChainFileProblem, 'kind' | 'message'> | undefined {
  const header = qcow2HeaderProblem(file);
  if (header?.startsWith('file missing')) return { kind: 'missing', message: `missing or unreadable: ${file}` };
  if (header !== undefined) return { kind: 'damaged', message: header };
  const problem = backingProblem(file, parentFile);
  return problem === undefined ? undefined : { kind: 'backing', message: problem };
}

// Undefined when `file`'s header names `parentFile` as its backing file (relative names resolved
// beside `file`, as QEMU does), or names none when there is no parent.
export function backingProblem(file: string, parentFile: string | undefined): string | undefined {
  const backing = readBacking(file);
  if (parentFile === undefined) {
    return backing === undefined
      ? undefined
      : `its header names backing file '${backing.name}', but it is a full backup (no parent)`;
  }
  if (backing === undefined) return `its header names no backing file, but its parent's file is ${parentFile}`;
  const named = path.resolve(path.dirname(file), backing.name);
  if (named !== path.resolve(parentFile))
    return `its header names backing file '${backing.name}' (${named}), not its parent's file ${parentFile}`;
  return undefined;
}

// "the file of backup X for disk N is …", for a refusal.
export function describeChainFileProblem(problem: ChainFileProblem): string {
  const what = `the file of backup ${problem.backupId} for disk ${problem.diskKey}`;
  if (problem.kind === 'missing') return `${what} is ${problem.message}`;
  if (problem.kind === 'damaged') return `${what} is damaged: ${problem.message}`;
  if (problem.kind === 'identity') return `${what} (${problem.file}) is refused as this point's: ${problem.message}`;
  return `${what} (${problem.file}) is not linked to its parent: ${problem.message}`;
}
