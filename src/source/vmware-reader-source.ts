// A vmware source read by sendense-run itself (docs/vmware.md): vSphere's API on the hub (the VM,
// its CBT state, a snapshot, QueryChangedDiskAreas per disk), the snapshot's flat disk files read
// by our node transfer over the datastore's HTTPS file access (vsphere: sources). The change_id is
// the disk's CBT change id at the snapshot.

import { SendenseError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { removeScratchDir, writeNodeFile } from '../libvirt/scratch-dir.js';
import type { NodeExec } from '../libvirt/virsh.js';
import type { DiskKey, VmwareSource } from '../plan/types.js';
import { ChangeIdRejected, changedAreas, type DiskArea } from '../vmware/changed-areas.js';
import { fetchDatastoreText, flatExtent, parseDescriptor } from '../vmware/disk-descriptor.js';
import { formatReadList } from '../vmware/read-list.js';
import type { MoRef } from '../vmware/soap-xml.js';
import {
  createSnapshot,
  enableChangeTracking,
  ownSnapshotName,
  removeSnapshot,
  snapshotDisks,
  snapshotsNamed,
} from '../vmware/snapshots.js';
import type { VimClient } from '../vmware/vim-client.js';
import { datastorePath, datastoreUrl, findVm, type VmDisk, type VmFacts } from '../vmware/vm-inventory.js';
import { openSession } from '../vmware/vsphere-session.js';
import { VMWARE_SNAPSHOT_RESOURCE, type SnapshotRecordFacts } from '../vmware/leftover-snapshot.js';
import { VSPHERE_COOKIE_ENV, type TransferRead } from '../wire/index.js';
import type { BackupSource, SnapshotContext, SourceDiskJob } from './backup-source.js';
import { diskSourceOf, type SourceDiskFacts } from './source-disk.js';
import { crashPoint } from '../crash-points.js';
import { vmwarePassword } from './vmware-client.js';

/** What a run learnt at its snapshot, for its transfer and its change ids (held for the run, by its id). */
interface SnapshotTaken {
  readonly cookie: string;
  readonly lists: ReadonlyMap<DiskKey, string>;
  readonly changeIds: ReadonlyMap<DiskKey, string>;
}
const taken = new Map<string, SnapshotTaken>();

// Change ids vSphere rejected at a snapshot in this process, by where (endpoint, VM, disk, change
// id) -> why: the run taken again at once (ChainRefusedAtSnapshot) does not start from them.
const rejected = new Map<string, string>();
const rejectedKey = (source: VmwareSource, disk: DiskKey, changeId: string) =>
  JSON.stringify([source.endpoint, source.path, disk, changeId]);

export function vmwareReaderSource(source: VmwareSource): BackupSource {
  const where = `VM ${source.path} at ${source.endpoint}`;

  async function inspect() {
    const client = await openSession(source);
    try {
      const vm = await findVm(client, source.path);
      if (!vm.cbt && source.cbt === 'require') throw cbtOff(vm);
      const disks = source.disks.map((planned) => diskFacts(vm, planned.key));
      const list = disks
        .map((disk) => `${disk.key} = ${vmwareOf(disk).fileName} (${formatBytes(disk.virtualSize)})`)
        .join(', ');
      const cbt = vm.cbt
        ? 'CBT on'
        : 'CBT off (vm.source.cbt: enable: turned on before the snapshot, this backup a full)';
      return {
        disks,
        notes: [`VM ${vm.name} (${vm.ref.value}) at ${source.endpoint}: ${vm.powerState}, ${cbt}; disks ${list}`],
      };
    } finally {
      await client.logout();
    }
  }

  return {
    checkReady: () => void vmwarePassword(source),
    inspect,
    // vSphere's API is asked from the hub: a dry run with a remote node shows the VM too.
    inspectsFromHub: true,
    uninspected: () => source.disks.map((disk) => ({ key: disk.key, source: { type: 'vmware' }, virtualSize: 0 })),
    sizeKnownBeforeTransfer: true,
    whyNotIncremental(fact, parentDisk, previous) {
      const now = vmwareOf(fact);
      if (!parentDisk.changeId) return `backup ${previous.id} recorded no VMware change id for disk ${fact.key}`;
      const refused = rejected.get(rejectedKey(source, fact.key, parentDisk.changeId));
      if (refused !== undefined) return `${refused} (backup ${previous.id})`;
      if (now.cbt === false) return `CBT is off on ${where}: no change id can be trusted`;
      if (fact.virtualSize !== parentDisk.virtualSize)
        return `disk ${fact.key} was resized (${parentDisk.virtualSize} -> ${fact.virtualSize} bytes) since backup ${previous.id}: VMware's change ids start over`;
      // A change id is "<CBT instance>/<sequence>": another instance means CBT was reset (or the disk moved).
      const epoch = (id: string) => id.split('/')[0];
      if (now.changeId !== undefined && epoch(now.changeId) !== epoch(parentDisk.changeId)) {
        return `VMware's change tracking of disk ${fact.key} was reset since backup ${previous.id} (change id ${parentDisk.changeId}, now ${now.changeId}): its change id is no longer valid`;
      }
      return undefined;
    },
    newImageSize: (fact) => fact.virtualSize,
    // VMware gives it at the snapshot (adoptResults).
    newChangeId: () => undefined,
    addedBitmap: () => undefined,
    supersededBitmaps: () => [],
    label: (disk) => `vmware://${source.endpoint}${source.path.startsWith('/') ? '' : '/'}${source.path}#${disk.key}`,
    describeRead(disk, incremental) {
      const { fileName } = vmwareOf(disk);
      const what =
        incremental && disk.fromChangeId
          ? `the areas changed since change id ${disk.fromChangeId}`
          : 'the allocated areas (change id *)';
      return `disk ${disk.key}: ${fileName ?? '?'} at the snapshot, over HTTPS from ${source.endpoint}: ${what}`;
    },
    snapshotTitle: `snapshot ${where} and ask vSphere what to read`,
    whyNoSnapshot: () => undefined,
    describeSnapshot: () =>
      `a snapshot named ${ownSnapshotName('<run-id>')} of ${where}${source.quiesce ? ' (quiesced)' : ''}, removed when the run ends; QueryChangedDiskAreas per disk, paged to its end`,
    async snapshot(disks, context) {
      return takeSnapshot(source, disks, context);
    },
    releaseSuperseded: async () => undefined,
    transferReads(disks, _incremental, jobId) {
      const run = taken.get(jobId);
      if (run === undefined) throw new Error(`no VMware snapshot was taken for run ${jobId}`);
      const reads = disks.map((disk): TransferRead => ({
        key: disk.key,
        source: { kind: 'vsphere', listFile: run.lists.get(disk.key)! },
      }));
      return { kind: 'node-transfer', reads, env: { [VSPHERE_COOKIE_ENV]: run.cookie } };
    },
    transfersWith: 'node-transfer',
    takesTurns: true,
    takesRate: true,
    reportsDigests: true,
    adoptResults(_results, keys, _full, runId) {
      const run = runId === undefined ? undefined : taken.get(runId);
      return keys.map((key) => {
        const changeId = run?.changeIds.get(key);
        if (changeId === undefined)
          throw new SendenseError(`vSphere gave no change id for disk ${key} at the snapshot: is CBT on?`, {
            step: 'transfer',
            disk: key,
          });
        return { key, changeId };
      });
    },
  };
}

function vmwareOf(disk: Pick<SourceDiskJob, 'source'>) {
  return diskSourceOf('vmware', disk.source);
}

function diskFacts(vm: VmFacts, key: DiskKey): SourceDiskFacts {
  const disk = vm.disks.find((each) => each.key === key);
  if (disk === undefined) {
    throw new SendenseError(
      `VM ${vm.name} has no disk with key ${key} (its disks: ${vm.disks.map((each) => each.key).join(', ') || 'none'})`,
      { step: 'resolve-chain', disk: key },
    );
  }
  return {
    key,
    source: {
      type: 'vmware',
      fileName: disk.fileName,
      cbt: vm.cbt,
      ...(disk.changeId ? { changeId: disk.changeId } : {}),
    },
    virtualSize: disk.capacity,
  };
}

function cbtOff(vm: VmFacts): SendenseError {
  return new SendenseError(
    `changed block tracking (CBT) is off on VM ${vm.name}: turn it on (vSphere: the VM's advanced configuration ctkEnabled = TRUE and scsiX:Y.ctkEnabled = TRUE per disk), or set vm.source.cbt: enable to let sendense-run turn it on`,
    { step: 'resolve-chain' },
  );
}

// The snapshot, taken after a dead run's is given back; recorded before it is made, removed when the
// run ends whatever happens; then per disk what to read, written for the node transfer.
async function takeSnapshot(source: VmwareSource, disks: readonly SourceDiskJob[], context: SnapshotContext) {
  const client = await openSession(source);
  context.takes(`log out of vSphere at ${source.endpoint}`, 'always', () => client.logout());
  const vm = await findVm(client, source.path);
  const leftovers = await context.giveBackLeftovers(
    (kind, facts) =>
      kind === VMWARE_SNAPSHOT_RESOURCE && facts.endpoint === source.endpoint && facts.vm === vm.ref.value,
  );
  for (const line of leftovers) context.warn(`left by a run that was killed: ${line}`);
  if (!vm.cbt) {
    if (source.cbt !== 'enable') throw cbtOff(vm);
    await enableChangeTracking(client, vm.ref);
    context.warn(
      `CBT was off on VM ${vm.name}: turned on (vm.source.cbt: enable); this backup reads every allocated area`,
    );
  }
  const name = ownSnapshotName(context.runId);
  await context.record(VMWARE_SNAPSHOT_RESOURCE, name, snapshotFacts(source, vm.ref));
  crashPoint('vmware.snapshot-recorded');
  const snapshot: { made?: MoRef } = {};
  context.takes(`remove snapshot ${name} of VM ${vm.name}`, 'always', async () => {
    // Made but not yet known (an error while vSphere made it): found by its name.
    for (const each of snapshot.made === undefined ? await snapshotsNamed(client, vm.ref, name) : [snapshot.made])
      await removeSnapshot(client, each);
    crashPoint('vmware.snapshot-removed');
    await context.forget(VMWARE_SNAPSHOT_RESOURCE, name);
  });
  // vSphere makes it in a task that goes on after a kill: its id recorded, doctor waits for it.
  const made = await createSnapshot(client, vm.ref, name, source.quiesce, async (task) => {
    await context.record(VMWARE_SNAPSHOT_RESOURCE, name, { ...snapshotFacts(source, vm.ref), task: task.value });
    crashPoint('vmware.snapshot-asked');
  });
  snapshot.made = made;
  crashPoint('vmware.snapshot-made');
  const frozen = await snapshotDisks(client, made);
  const dir = await nodeTempDir(context.exec);
  // A scratch directory like any other: doctor removes a killed run's.
  await context.record('scratch-dir', dir, {});
  context.takes(`remove ${dir} on the node`, 'always', async () => {
    await removeScratchDir(context.exec, dir);
    await context.forget('scratch-dir', dir);
  });
  const lists = new Map<DiskKey, string>();
  const changeIds = new Map<DiskKey, string>();
  let bytes = 0;
  let calls = 0;
  for (const job of disks) {
    const disk = frozen.find((each) => each.key === job.key);
    if (disk === undefined)
      throw new SendenseError(`disk ${job.key} is not in snapshot ${name} of VM ${vm.name} (removed meanwhile?)`, {
        disk: job.key,
      });
    const url = await dataFileUrl(client, vm, disk);
    const changeId = job.fromChangeId ?? '*';
    const found = await changedAreas(client, vm.ref, made, disk.key, disk.capacity, changeId).catch((error) => {
      // Taken again at once as a full into a new chain (docs/vmware.md#a-change-id-vsphere-rejects).
      if (error instanceof ChangeIdRejected) rejected.set(rejectedKey(source, job.key, changeId), error.message);
      throw error;
    });
    calls += found.calls;
    bytes += found.areas.reduce((sum, area) => sum + area.length, 0);
    const list = `${dir}/disk-${job.key}.json`;
    await writeNodeFile(
      context.exec,
      list,
      formatReadList({ url, sha256: source.certificateSha256!, size: disk.capacity, areas: found.areas.map(pair) }),
    );
    lists.set(job.key, list);
    if (lists.size === 1) crashPoint('vmware.areas-listed');
    if (disk.changeId !== undefined) changeIds.set(job.key, disk.changeId);
  }
  taken.set(context.runId, { cookie: `vmware_soap_session=${client.sessionCookie}`, lists, changeIds });
  context.takes('forget the snapshot facts', 'always', async () => void taken.delete(context.runId));
  return {
    summary: `snapshot ${name} (${made.value}) of VM ${vm.name}${source.quiesce ? ', quiesced' : ''}; ${formatBytes(bytes)} to read; ${calls} QueryChangedDiskAreas call(s)`,
    facts: { snapshot: made.value, queryCalls: calls, bytesToRead: bytes },
  };
}

/** What doctor needs to reach the snapshot again: never the password, only where it is read from. */
function snapshotFacts(source: VmwareSource, vm: MoRef): SnapshotRecordFacts & Readonly<Record<string, unknown>> {
  return {
    endpoint: source.endpoint,
    username: source.username,
    passwordEnv: source.passwordEnv ?? null,
    passwordFile: source.passwordFile ?? null,
    certificateSha256: source.certificateSha256 ?? null,
    vm: vm.value,
  };
}

function pair(area: DiskArea): readonly [number, number] {
  return [area.offset, area.length];
}

// The HTTPS address of the file holding a disk's bytes at the snapshot: the flat extent its descriptor names.
async function dataFileUrl(client: VimClient, vm: VmFacts, disk: VmDisk): Promise<string> {
  const refuse = (why: string) =>
    new SendenseError(
      `disk ${disk.key} of VM ${vm.name} is ${why} at the snapshot (${disk.fileName}): the HTTPS reader reads flat disks only; remove the VM's other snapshots, or use client: sendense-backup-client`,
      {
        disk: disk.key,
      },
    );
  if (disk.parentFile !== undefined) throw refuse(`a delta disk of ${disk.parentFile} (the VM has other snapshots)`);
  if (disk.backing !== 'VirtualDiskFlatVer2BackingInfo') throw refuse(`a disk with ${disk.backing}`);
  const { datastore, path } = datastorePath(disk.fileName);
  const descriptor = parseDescriptor(
    await fetchDatastoreText(client, datastoreUrl(client.origin, vm.datacenter, datastore, path)),
  );
  if (descriptor === undefined) throw refuse('a vmdk without a descriptor');
  const extent = flatExtent(descriptor, disk.capacity);
  if (typeof extent === 'string') throw refuse(extent);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  return datastoreUrl(client.origin, vm.datacenter, datastore, `${dir}${extent.file}`);
}

// A private directory on the node for the run's read lists.
async function nodeTempDir(exec: NodeExec): Promise<string> {
  const made = await exec(['mktemp', '-d', '-t', 'sendense-vmware-XXXXXX']);
  if (made.exitCode !== 0) throw new SendenseError(`cannot make a directory on the node: ${made.stderr.trim()}`);
  return made.stdout.trim();
}
