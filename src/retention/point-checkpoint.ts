// A removed point's libvirt checkpoint goes with it, as a qemu point's bitmap does
// (docs/how-it-works.md#forget): nothing can continue from it, and its bitmap would track every
// write of the domain for good. The domain is the one the point's stored definition names, on
// this host through the default URI; only the checkpoint the point's own run made is deleted. A
// domain on another node, or one libvirt there does not know, is left and said.

import { readFile } from 'node:fs/promises';
import { checkpointMadeBy, deleteCheckpoint } from '../libvirt/checkpoints.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { virshMessage, virshOn } from '../libvirt/virsh.js';
import { execLocal } from '../node/local.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import { DEFAULT_LIBVIRT_URI } from '../plan/build-parts.js';
import { bitmapName } from '../repository/layout.js';
import type { Backup } from '../store/index.js';

// The domain a point's stored definition names (undefined: no definition, not a libvirt point).
export async function pointDomain(definitionFile: string): Promise<string | undefined> {
  try {
    return parseDomainXml(await readFile(definitionFile, 'utf8')).name || undefined;
  } catch {
    return undefined;
  }
}

// Deletes the checkpoint the point's run made on `domain`; returns a line for a checkpoint left.
export async function releasePointCheckpoint(backup: Backup, domain: string | undefined): Promise<readonly string[]> {
  const name = backup.disks.find((disk) => disk.changeId)?.changeId;
  if (domain === undefined || !name || name !== bitmapName(backup.chainId, backup.id)) return [];
  const node = backup.disks[0]?.sourceNode ?? LOCAL_NODE_ID;
  const how = `delete it there (virsh checkpoint-delete ${domain} ${name})`;
  if (node !== LOCAL_NODE_ID) return [`checkpoint ${name} left on domain ${domain} of node ${node}: ${how}`];
  const virsh = virshOn(execLocal, DEFAULT_LIBVIRT_URI);
  const listed = await virsh.attempt(['checkpoint-list', domain, '--name']);
  if (listed.exitCode !== 0) return [`checkpoint ${name} left on domain ${domain} (${virshMessage(listed)}): ${how}`];
  if (!listed.stdout.split('\n').some((line) => line.trim() === name)) return [];
  if (!(await checkpointMadeBy(virsh, domain, name, backup.runId))) return [];
  const disks = backup.disks.map((disk) => ({ target: '', path: disk.source }));
  try {
    await deleteCheckpoint(virsh, execLocal, domain, name, disks);
    return [];
  } catch (error) {
    return [`checkpoint ${name} left on domain ${domain} (${(error as Error).message}): ${how}`];
  }
}
