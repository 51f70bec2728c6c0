// A removed point's libvirt checkpoint goes with it, as a qemu point's bitmap does
// (docs/how-it-works.md#forget): nothing can continue from it, and its bitmap would track every
// write of the domain for good. The domain is the one the point's stored definition names, on
// this host through the default URI; only the checkpoint the point's own run made is deleted. It
// is recorded as the removing run's before the point goes (doctor deletes it if the run dies, or
// if libvirt does not answer now); a domain on another node, or one libvirt does not know, keeps
// it and the removal says so.

import { readFile } from 'node:fs/promises';
import { checkpointMadeBy, deleteCheckpoint, type CheckpointDisk } from '../libvirt/checkpoints.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { virshMessage, virshOn } from '../libvirt/virsh.js';
import { execLocal } from '../node/local.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import { DEFAULT_LIBVIRT_URI } from '../plan/build-parts.js';
import { bitmapName } from '../repository/layout.js';
import type { Backup, Store } from '../store/index.js';

/** A removed point's checkpoint, recorded as a node resource of the removing run. */
export interface PointCheckpoint {
  readonly name: string;
  readonly domain: string;
  readonly runId: string;
  readonly disks: readonly CheckpointDisk[];
}

// The domain a point's stored definition names (undefined: no definition, not a libvirt point).
export async function pointDomain(definitionFile: string): Promise<string | undefined> {
  try {
    return parseDomainXml(await readFile(definitionFile, 'utf8')).name || undefined;
  } catch {
    return undefined;
  }
}

// Before the point's record goes: its checkpoint recorded as run `runId`'s (undefined: none to
// delete here), or a line saying it is left on another node.
export async function recordPointCheckpoint(
  store: Store,
  runId: string,
  backup: Backup,
  domain: string | undefined,
): Promise<PointCheckpoint | string | undefined> {
  const name = backup.disks.find((disk) => disk.changeId)?.changeId;
  if (domain === undefined || !name || name !== bitmapName(backup.chainId, backup.id)) return undefined;
  const node = backup.disks[0]?.sourceNode ?? LOCAL_NODE_ID;
  if (node !== LOCAL_NODE_ID)
    return `checkpoint ${name} left on domain ${domain} of node ${node}: ${how(domain, name)}`;
  const disks = backup.disks.map((disk) => ({ target: '', path: disk.source }));
  await store.recordNodeResource({
    runId,
    node: LOCAL_NODE_ID,
    kind: 'checkpoint',
    name,
    facts: { domain, uri: DEFAULT_LIBVIRT_URI, disks, nodeSpec: null },
  });
  return { name, domain, runId: backup.runId, disks };
}

// Deletes the checkpoint the point's run made and forgets the record; returns a line for one left.
export async function releasePointCheckpoint(store: Store, checkpoint: PointCheckpoint): Promise<readonly string[]> {
  const { name, domain } = checkpoint;
  const forget = async (): Promise<readonly string[]> => {
    await store.forgetNodeResource(LOCAL_NODE_ID, 'checkpoint', name);
    return [];
  };
  const virsh = virshOn(execLocal, DEFAULT_LIBVIRT_URI);
  const listed = await virsh.attempt(['checkpoint-list', domain, '--name']);
  if (listed.exitCode !== 0 && /failed to get domain|domain not found/i.test(listed.stderr)) {
    await forget();
    return [`checkpoint ${name} left on domain ${domain} (${virshMessage(listed)}): ${how(domain, name)}`];
  }
  try {
    if (listed.exitCode === 0 && !listed.stdout.split('\n').some((line) => line.trim() === name)) return await forget();
    if (listed.exitCode === 0 && !(await checkpointMadeBy(virsh, domain, name, checkpoint.runId)))
      return await forget();
    await deleteCheckpoint(virsh, execLocal, domain, name, checkpoint.disks);
    return await forget();
  } catch (error) {
    return [`checkpoint ${name} of domain ${domain} left for doctor: ${(error as Error).message}`];
  }
}

const how = (domain: string, name: string) => `delete it there (virsh checkpoint-delete ${domain} ${name})`;
