// What a run takes on a libvirt node (docs/how-it-works.md#libvirt-domains): a frozen guest, a
// backup job, a checkpoint, the run's scratch directory (also a qemu source's bitmap-mark folder).

import { endBackupJob } from '../../libvirt/backup-job.js';
import { deleteCheckpoint, type CheckpointDisk } from '../../libvirt/checkpoints.js';
import { thawGuest } from '../../libvirt/guest-agent.js';
import { removeScratchDir } from '../../libvirt/scratch-dir.js';
import { virshOn } from '../../libvirt/virsh.js';
import type { Backup, NodeResource, ReplicaPoint } from '../../store/index.js';
import type { DoctorContext } from '../sweeper.js';
import type { GiveBack, RecoveryResourceKind } from './resource-kind.js';

interface DomainFacts {
  readonly domain: string;
  readonly uri: string;
  readonly disks?: CheckpointDisk[];
}

const facts = (resource: NodeResource) => resource.facts as unknown as DomainFacts;
const virshOf = ({ host, resource }: GiveBack) =>
  virshOn((argv, options) => host.exec(argv, options), facts(resource).uri);

export const guestFreeze: RecoveryResourceKind = {
  kind: 'guest-freeze',
  rank: 10,
  describe: (resource) => `guest filesystems of ${String(resource.facts.domain ?? '')} frozen`,
  giveBack: (context) =>
    context.doctor.act(context.what, 'thaw it', async () => {
      await thawGuest(virshOf(context), facts(context.resource).domain);
      await context.forget();
    }),
};

export const backupJob: RecoveryResourceKind = {
  kind: 'backup-job',
  rank: 30,
  describe: (resource) => `backup job of domain ${String(resource.facts.domain ?? '')} (socket ${resource.name})`,
  giveBack: (context) =>
    context.doctor.act(context.what, 'end it', async () => {
      await endBackupJob(virshOf(context), facts(context.resource).domain, context.resource.name);
      await context.forget();
    }),
};

export const checkpoint: RecoveryResourceKind = {
  kind: 'checkpoint',
  rank: 50,
  describe: (resource) => `checkpoint ${resource.name} of domain ${String(resource.facts.domain ?? '')}`,
  async giveBack(context) {
    const { doctor, host, resource, what, forget } = context;
    if ((await neededCheckpoints(doctor)).has(resource.name))
      return doctor.act(what, 'keep it (the newest backup starts from it) and forget the record', forget);
    return doctor.act(what, 'delete it', async () => {
      await deleteCheckpoint(
        virshOf(context),
        (argv, options) => host.exec(argv, options),
        facts(resource).domain,
        resource.name,
        facts(resource).disks ?? [],
      );
      await forget();
    });
  },
};

export const scratchDir: RecoveryResourceKind = {
  kind: 'scratch-dir',
  rank: 60,
  describe: (resource) => `scratch directory ${resource.name}`,
  giveBack: ({ doctor, host, resource, what, forget }) =>
    doctor.act(what, 'remove it', async () => {
      await removeScratchDir((argv, options) => host.exec(argv, options), resource.name);
      await forget();
    }),
};

// The change_ids incrementals and syncs start from: those of the newest complete backup of each VM
// and repository, and of each replica's newest complete point.
async function neededCheckpoints({ store }: DoctorContext): Promise<ReadonlySet<string>> {
  const newest = new Map<string, Backup>();
  for (const backup of await store.listBackups())
    if (backup.status === 'complete') newest.set(`${backup.vm}\0${backup.repository}`, backup);
  const replicas = new Map<string, ReplicaPoint>();
  for (const point of await store.listReplicaPoints({ statuses: ['complete'] })) replicas.set(point.plan, point);
  const disks = [
    ...[...newest.values()].flatMap((backup) => backup.disks),
    ...[...replicas.values()].flatMap((point) => point.disks),
  ];
  return new Set(disks.flatMap((disk) => (disk.changeId ? [disk.changeId] : [])));
}
