// The checkpoints on one domain with their owners, and deleting ours, on this host or a node over
// SSH (docs/how-it-works.md#checkpoints-on-a-domain). Only a checkpoint sendense-run made is ever
// deleted: its name and its description say so; another tool's is never named here.

import { SendenseError } from '../errors.js';
import { listDomainCheckpoints } from '../libvirt/checkpoint-list.js';
import { checkpointDescription, checkpointMaker, deleteCheckpoint } from '../libvirt/checkpoints.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { NO_SUCH_DOMAIN, virshOn, type NodeExec, type Virsh } from '../libvirt/virsh.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import type { Store } from '../store/index.js';
import { checkpointOwners, type CheckpointOwnership } from './checkpoint-owners.js';

/** A domain as a plan, a command line or a run's record names it. */
export interface DomainAddress {
  /** Undefined or null: this host. */
  readonly node?: NodeSpec | null;
  readonly uri: string;
  readonly domain: string;
}

// This host, or the node over SSH for the time of `use`.
export async function withDomainNode<T>(
  node: NodeSpec | null | undefined,
  use: (host: NodeHost) => Promise<T>,
): Promise<T> {
  if (node === undefined || node === null) return use(createLocalNode());
  const { connectSshNode } = await import('../node/ssh.js');
  const host = await connectSshNode(node);
  try {
    return await use(host);
  } finally {
    await host.close();
  }
}

/** The domain's checkpoints with their owners, and how to delete one of ours. */
export interface DomainCheckpoints {
  readonly checkpoints: readonly CheckpointOwnership[];
  /** Deletes one of ours (running or shut off: its bitmaps in the images too); false: it was not there. */
  remove(name: string): Promise<boolean>;
}

export async function domainCheckpoints(
  store: Store,
  host: NodeHost,
  address: DomainAddress,
): Promise<DomainCheckpoints> {
  const exec: NodeExec = (argv, options) => host.exec(argv, options);
  const virsh = virshOn(exec, address.uri);
  const { domain } = address;
  await refuseMissingDomain(virsh, domain);
  const checkpoints = await checkpointOwners(
    store,
    { node: host.id, domain },
    await listDomainCheckpoints(virsh, domain),
  );
  return { checkpoints, remove: (name) => removeOurCheckpoint(virsh, exec, domain, name) };
}

// A domain libvirt does not have is the user's mistake (exit 2); libvirt not answering is not.
async function refuseMissingDomain(virsh: Virsh, domain: string): Promise<void> {
  const state = await virsh.attempt(['domstate', domain]);
  if (state.exitCode === 0) return;
  const message = state.stderr.trim();
  if (NO_SUCH_DOMAIN.test(message))
    throw new SendenseError(`libvirt domain '${domain}' does not exist on ${virsh.uri}`, { exitCode: 2 });
  throw new SendenseError(`libvirt at ${virsh.uri}: ${message.replace(/^error:\s*/gm, '').replace(/\n/g, ': ')}`);
}

// Deletes the checkpoint `name` if it is there and ours; false when it is not (there, or ours).
export async function removeOurCheckpoint(
  virsh: Virsh,
  exec: NodeExec,
  domain: string,
  name: string,
): Promise<boolean> {
  const dumped = await virsh.attempt(['checkpoint-dumpxml', domain, name, '--no-domain']);
  if (dumped.exitCode !== 0) return false;
  // Re-created under our name by someone else: not ours to delete.
  if (checkpointMaker(name, checkpointDescription(dumped.stdout)) === undefined) return false;
  // A shut-off domain's bitmaps are removed from its qcow2 images (libvirt 9 deletes only metadata then).
  const definition = parseDomainXml(await virsh.run(['dumpxml', domain], `read the XML of domain ${domain}`));
  const disks = definition.disks
    .filter((disk) => disk.path !== undefined && disk.format === 'qcow2')
    .map((disk) => ({ target: disk.target, path: disk.path! }));
  await deleteCheckpoint(virsh, exec, domain, name, disks);
  return true;
}
