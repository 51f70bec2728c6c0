// A libvirt source: a domain on the node, running or shut off (docs/how-it-works.md#libvirt-domains).
// Running: one pull-mode backup job with a new checkpoint gives every disk at one instant, read
// from the job's NBD export on a unix socket in the run's scratch directory. Shut off: the images
// themselves, the checkpoint's bitmaps added with qemu-img and recorded in libvirt. The change_id
// is the checkpoint's name, which carries the chain and the backup like a qemu source's bitmap.

import { SendenseError } from '../errors.js';
import {
  backupXml,
  beginBackup,
  endBackupJob,
  expectedExport,
  jobOf,
  runningBackupJob,
} from '../libvirt/backup-job.js';
import {
  checkpointDumpCall,
  checkpointProblem,
  checkpointXml,
  createCheckpointOffline,
  deleteCheckpoint,
  type CheckpointDisk,
} from '../libvirt/checkpoints.js';
import { domainIsActive, inspectDomain, stateIsActive } from '../libvirt/domain.js';
import { agentSilence, AGENT_TIMEOUT_S, freezeGuest, thawGuest } from '../libvirt/guest-agent.js';
import { makeScratchDir, removeScratchDir, runScratchDir, writeNodeFile } from '../libvirt/scratch-dir.js';
import { virshMessage, virshOn, type NodeExec } from '../libvirt/virsh.js';
import type { LibvirtSource } from '../plan/types.js';
import { bitmapName } from '../repository/layout.js';
import type { Backup } from '../store/index.js';
import type { TransferRead } from '../wire/index.js';
import type {
  SnapshotContext,
  SourceChangeTracking,
  SourceDiskJob,
  SourceFacets,
  SourceInspection,
  SourceReads,
  SourceSnapshot,
  SupersededBitmap,
} from './backup-source.js';
import { chooseDomainDisks } from './libvirt-disks.js';
import { ownBitmap } from './qemu-source.js';
import { diskSourceOf, refuseEmptyDisk, type LibvirtDiskSource, type SourceDiskFacts } from './source-disk.js';
import { startThawWatchdog } from './thaw-watchdog.js';
import { crashPoint } from '../crash-points.js';

export function libvirtSource(source: LibvirtSource): SourceFacets {
  return {
    inspection: libvirtInspection(source),
    changeTracking: libvirtChangeTracking(source),
    snapshot: libvirtSnapshot(source),
    reads: libvirtReads(source),
  };
}

// Inspect: the domain's definition, its disks' sizes and the previous backup's checkpoint, asked of libvirt.
function libvirtInspection(source: LibvirtSource): SourceInspection {
  const { domain } = source;
  return {
    checkReady: () => undefined,
    inspect: (exec, previous) => inspectDomainDisks(source, exec, previous),
    // Unknown until the node is asked: the disks the plan names, if it names them.
    uninspected: () =>
      source.disks.map((disk) => ({
        key: disk.key,
        source: {
          type: 'libvirt',
          domain,
          target: disk.target,
          path: '',
          format: 'qcow2',
          active: false,
          otherTargets: [],
        },
        virtualSize: 0,
      })),
    sizeKnownBeforeTransfer: true,
    newImageSize: (fact) => fact.virtualSize,
    label: (disk) => libvirtOf(disk).path,
  };
}

// Change tracking: a checkpoint of the domain per backup, its bitmaps in the qcow2 images.
function libvirtChangeTracking(source: LibvirtSource): SourceChangeTracking {
  const { domain, uri } = source;
  return {
    whyNotIncremental(fact, parentDisk, previous) {
      const disk = libvirtOf(fact);
      if (disk.format === 'raw')
        return `disk ${fact.key} (${disk.target}, ${disk.path}) is a raw image: libvirt checkpoints need qcow2, so only full backups are possible`;
      if (parentDisk.source !== disk.path)
        return `disk ${fact.key} (${disk.target}) is now ${disk.path}, not ${parentDisk.source} as in backup ${previous.id}: a replaced disk starts a new chain`;
      const name = parentDisk.changeId;
      if (!name) return `backup ${previous.id} recorded no checkpoint for disk ${fact.key}`;
      if (name !== ownBitmap(previous))
        return `backup ${previous.id} records checkpoint '${name}' for disk ${fact.key}, not the one its chain made ('${ownBitmap(previous)}')`;
      return fact.trackingProblem;
    },
    // The checkpoint this backup makes covers the qcow2 disks; raw ones have none.
    newChangeId: (fact, chainId, backupId) =>
      libvirtOf(fact).format === 'qcow2' ? bitmapName(chainId, backupId) : undefined,
    // Checkpoints are recorded as node resources (doctor), not as bitmaps of an image.
    addedBitmap: () => undefined,
    supersededBitmaps(previous, facts) {
      if (previous === undefined) return [];
      return facts.flatMap((fact) => {
        const name = previous.disks.find((disk) => disk.diskKey === fact.key)?.changeId;
        return name && name === ownBitmap(previous) && fact.path ? [{ key: fact.key, path: fact.path, name }] : [];
      });
    },
    // Doctor deletes a recorded checkpoint unless the newest complete backup starts from it.
    async recordSuperseded(superseded, context) {
      for (const [name, disks] of byCheckpoint(superseded))
        await context.record('checkpoint', name, { domain, uri, disks });
    },
    async releaseSuperseded(superseded, context) {
      const virsh = virshOn(context.exec, uri);
      // The job that read from the old checkpoint ends first (cleanup would end it right after).
      await endBackupJob(virsh, domain, `${runScratchDir(source.scratch, context.runId)}/nbd.sock`);
      for (const [name, disks] of byCheckpoint(superseded)) {
        await deleteCheckpoint(virsh, context.exec, domain, name, disks);
        await context.forget('checkpoint', name);
      }
    },
  };
}

// Snapshot: a backup job with the new checkpoint (running), or the checkpoint in the images (shut off).
function libvirtSnapshot(source: LibvirtSource): SourceSnapshot {
  const { domain, uri } = source;
  return {
    snapshotTitle: `take this backup's checkpoint on domain ${domain}`,
    whyNoSnapshot: () => undefined,
    describeSnapshot(disks) {
      const first = disks[0] === undefined ? undefined : libvirtOf(disks[0]);
      const name = disks.find((disk) => disk.changeId)?.changeId;
      const checkpoint = name ? `checkpoint ${name}` : 'no checkpoint (no qcow2 disk)';
      if (first === undefined || first.path === '')
        return `a backup job with a new checkpoint on domain ${domain} if it runs, else a new checkpoint in its images (the remote node is not contacted in a dry run)`;
      if (!first.active)
        return `${checkpoint}: a bitmap in each image of the shut-off domain ${domain}, recorded in libvirt`;
      const freeze =
        source.quiesce === 'off' ? '' : `, guest filesystems frozen for that instant (quiesce: ${source.quiesce})`;
      return `a pull-mode backup job on domain ${domain} with ${checkpoint}${freeze}; socket in ${runScratchDir(source.scratch, '<run-id>')}`;
    },
    async snapshot(disks, context) {
      const virsh = virshOn(context.exec, uri);
      // A killed run's job would refuse this one ("already has a job running"): given back first.
      const leftovers = await context.giveBackLeftovers(
        (kind, facts) => LIBVIRT_RESOURCES.includes(kind) && facts.domain === domain && facts.uri === uri,
      );
      for (const line of leftovers) context.warn(`left by a run that was killed: ${line}`);
      const active = libvirtOf(disks[0]!).active;
      if (active) return snapshotRunning(source, disks, context);
      if (await domainIsActive(virsh, domain)) throw changedState(domain, active);
      return snapshotShutOff(source, disks, context);
    },
  };
}

// Reads: the backup job's NBD export of each disk (running), or its image (shut off).
function libvirtReads(source: LibvirtSource): SourceReads {
  const { domain } = source;
  return {
    describeRead(disk, incremental) {
      const { target, path, active } = libvirtOf(disk);
      const from = active ? `the backup job's export of ${target}` : `${path} (shut off)`;
      return `disk ${disk.key}: ${domain} ${target}, ${from}${incremental && disk.fromChangeId ? `, changed since checkpoint ${disk.fromChangeId}` : ''}`;
    },
    transferReads(disks, incremental, jobId) {
      const reads = disks.map((disk): TransferRead => {
        const { target, path, format, active } = libvirtOf(disk);
        if (!active)
          return {
            key: disk.key,
            source: { kind: 'qemu', path, format },
            ...(incremental && disk.fromChangeId ? { bitmap: disk.fromChangeId } : {}),
          };
        const socket = `${runScratchDir(source.scratch, jobId)}/nbd.sock`;
        const exported = expectedExport(target, incremental);
        const url = `nbd+unix:///${encodeURIComponent(exported.exportName)}?socket=${socket}`;
        return {
          key: disk.key,
          source: { kind: 'nbd', url },
          ...(exported.exportBitmap ? { bitmap: exported.exportBitmap } : {}),
        };
      });
      return { kind: 'node-transfer', reads };
    },
    transfersWith: 'node-transfer',
    takesTurns: true,
    takesRate: true,
    reportsDigests: true,
  };
}

// The domain's disks as the plan chooses them, each one's size, and whether the previous backup's checkpoint can be built on.
async function inspectDomainDisks(source: LibvirtSource, exec: NodeExec, previous: Backup | undefined) {
  const { domain, uri } = source;
  const step = { step: 'resolve-chain' } as const;
  const virsh = virshOn(exec, uri);
  const facts = await inspectDomain(virsh, domain).catch((error: unknown) => {
    throw new SendenseError((error as Error).message, { ...step, cause: error });
  });
  const { chosen, skipped, otherTargets } = chooseDomainDisks(facts.definition, source.disks, domain);
  const disks: SourceDiskFacts[] = [];
  // The previous backup's checkpoint, checked once for the VM (libvirt asks QEMU for every bitmap),
  // asked with the disks' sizes when libvirt lists it.
  const name = previous?.disks.find((disk) => disk.changeId)?.changeId ?? undefined;
  const checked = previous !== undefined && name !== undefined && name === ownBitmap(previous);
  const asksDump = checked && facts.checkpoints.includes(name);
  const answers = await virsh.attemptAll([
    ...chosen.map(({ disk }) => ['domblkinfo', domain, disk.target]),
    ...(asksDump ? [checkpointDumpCall(domain, name, facts.active)] : []),
  ]);
  const sizes = answers.slice(0, chosen.length);
  for (const [i, { key, disk }] of chosen.entries()) {
    if (sizes[i]!.exitCode !== 0)
      throw new SendenseError(`read the size of disk ${disk.target} of ${domain}: ${virshMessage(sizes[i]!)}`, {
        ...step,
        disk: key,
      });
    const info = sizes[i]!.stdout;
    const virtualSize = Number(/^Capacity:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    refuseEmptyDisk(virtualSize, `disk ${disk.target} of ${domain}`, key);
    const format = disk.format === 'qcow2' ? 'qcow2' : 'raw';
    const diskSource: LibvirtDiskSource = {
      type: 'libvirt',
      domain,
      target: disk.target,
      path: disk.path!,
      format,
      active: facts.active,
      runsAs: facts.definition.runsAs,
      otherTargets,
    };
    disks.push({ key, source: diskSource, virtualSize, path: disk.path });
  }
  const problem = !checked
    ? undefined
    : await checkpointProblem(
        virsh,
        exec,
        domain,
        { name, runId: previous.runId },
        facts.active,
        facts.checkpoints,
        disks.map((fact) => checkpointDisk(fact)),
        asksDump ? answers[chosen.length] : undefined,
      );
  const notes = [
    `domain ${domain} on ${uri}: ${facts.state}${facts.persistent ? '' : ' (transient)'}, ${disks.map((d) => `${d.key} = ${libvirtOf(d).target} (${d.path})`).join(', ')}`,
  ];
  if (skipped.length > 0) notes.push(`skipped: ${skipped.join(', ')}`);
  return {
    disks: disks.map((fact) => (problem === undefined ? fact : { ...fact, trackingProblem: problem })),
    notes,
    definition: facts.xml,
  };
}

// The domain was started or stopped between resolve-chain and snapshot-source.
function changedState(domain: string, wasActive: boolean): SendenseError {
  return new SendenseError(
    `domain ${domain} was ${wasActive ? 'shut off' : 'started'} while the backup was being prepared: run it again`,
  );
}

// What a run records on a domain (snapshotRunning, takeCheckpointRecord): doctor's to give back after a kill.
const LIBVIRT_RESOURCES: readonly string[] = ['guest-freeze', 'backup-job', 'checkpoint', 'scratch-dir'];

function byCheckpoint(superseded: readonly SupersededBitmap[]): Map<string, CheckpointDisk[]> {
  const names = new Map<string, CheckpointDisk[]>();
  for (const entry of superseded)
    names.set(entry.name, [...(names.get(entry.name) ?? []), { target: '', path: entry.path }]);
  return names;
}

function libvirtOf(disk: Pick<SourceDiskJob, 'source'>): LibvirtDiskSource {
  return diskSourceOf('libvirt', disk.source);
}

function checkpointDisk(disk: Pick<SourceDiskJob, 'source'>): CheckpointDisk {
  const { target, path } = libvirtOf(disk);
  return { target, path };
}

// Shut off: nothing runs, so the images are one point in time; the new checkpoint's bitmaps go in
// before the node transfer reads them (its qemu-nbd then keeps the domain from starting until done).
async function snapshotShutOff(source: LibvirtSource, disks: readonly SourceDiskJob[], context: SnapshotContext) {
  const name = disks.find((disk) => disk.changeId)?.changeId;
  if (name === undefined)
    return {
      summary: `domain ${source.domain} is shut off: its images are read as they are (no qcow2 disk, no checkpoint)`,
    };
  const virsh = virshOn(context.exec, source.uri);
  const covered = disks.filter((disk) => disk.changeId).map(checkpointDisk);
  const others = [
    ...libvirtOf(disks[0]!).otherTargets,
    ...disks.filter((disk) => !disk.changeId).map((disk) => libvirtOf(disk).target),
  ];
  await takeCheckpointRecord(source, name, covered, context);
  await createCheckpointOffline(virsh, context.exec, source.domain, { name, runId: context.runId }, covered, others);
  return { summary: `domain ${source.domain} is shut off: checkpoint ${name} added to ${covered.length} image(s)` };
}

// Running: freeze (if asked and possible), one backup job with the new checkpoint, thaw at once.
async function snapshotRunning(source: LibvirtSource, disks: readonly SourceDiskJob[], context: SnapshotContext) {
  const { domain } = source;
  const virsh = virshOn(context.exec, source.uri);
  const { quiesce, job } = await readyAndPrepared(source, disks, virsh, context);
  const freeze = quiesce === null ? await beginFrozen(source, virsh, job, context) : undefined;
  if (quiesce !== null) await beginBackup(virsh, domain, job.backupFile, job.checkpointFile);
  crashPoint('libvirt.job-started');
  await checkExports(virsh, domain, job.socket, disks, job.incrementalFrom !== undefined);
  const frozen = freeze === undefined ? '' : `; ${freeze.count} guest filesystem(s) frozen for ${freeze.ms} ms`;
  if (freeze !== undefined)
    context.info(`guest filesystems of ${domain} frozen for ${freeze.ms} ms (${freeze.count} filesystem(s))`);
  return {
    summary: `backup job on ${domain}${job.name ? ` with checkpoint ${job.name}` : ''}${job.incrementalFrom ? `, changes since ${job.incrementalFrom}` : ''}${frozen}`,
    facts: { quiesced: freeze !== undefined, freezeMs: freeze?.ms ?? null },
    ...(freeze === undefined ? {} : { note: `guest frozen ${freeze.ms} ms (${freeze.count} filesystem(s))` }),
  };
}

// The questions before the job (readyForJob) and the job's files (prepareBackupJob). On this host
// both at once: the guest agent's ping, a round trip through the guest, is most of the questions'
// time, and the files do not depend on the answers (a refusal then finds them registered for undo,
// and is the error reported, as when asked first). Through a node, in turn.
async function readyAndPrepared(
  source: LibvirtSource,
  disks: readonly SourceDiskJob[],
  virsh: ReturnType<typeof virshOn>,
  context: SnapshotContext,
): Promise<{ readonly quiesce: string | null | undefined; readonly job: PreparedBackupJob }> {
  if (!virsh.concurrent) {
    const quiesce = await readyForJob(source, virsh, context);
    return { quiesce, job: await prepareBackupJob(source, disks, virsh, context) };
  }
  const [ready, prepared] = await Promise.allSettled([
    readyForJob(source, virsh, context),
    prepareBackupJob(source, disks, virsh, context),
  ]);
  if (ready.status === 'rejected') throw ready.reason;
  if (prepared.status === 'rejected') throw prepared.reason;
  return { quiesce: ready.value, job: prepared.value };
}

// The domain still runs with no job of another, and whether its guest agent answers: null when it
// does (the guest can be frozen), why not when it does not, undefined when quiesce is off.
async function readyForJob(
  source: LibvirtSource,
  virsh: ReturnType<typeof virshOn>,
  context: SnapshotContext,
): Promise<string | null | undefined> {
  const { domain } = source;
  const askAgent = async (): Promise<string | null | undefined> =>
    source.quiesce === 'off' ? undefined : agentSilence(virsh, domain);
  // Still running, and no job: asked together. On this host the agent at once too (a ping changes
  // nothing); through a node in turn.
  const askDomain = async () => {
    const [state, job] = await virsh.attemptAll([
      ['domstate', domain],
      ['domjobinfo', domain],
    ]);
    return { running: stateIsActive(state!, domain), job: jobOf(job!) };
  };
  const [{ running, job }, pinged] = virsh.concurrent
    ? await Promise.all([askDomain(), askAgent()])
    : [await askDomain(), undefined];
  if (!running) throw changedState(domain, true);
  if (job !== undefined)
    throw new SendenseError(
      `domain ${domain} already has a job running (${job}): libvirt runs one at a time; is another backup tool at work?`,
    );
  const quiesce = virsh.concurrent ? pinged : await askAgent();
  if (source.quiesce === 'require' && quiesce !== null) {
    throw new SendenseError(
      `quiesce: require, but the guest agent of ${domain} did not answer within ${AGENT_TIMEOUT_S} s (${quiesce}): nothing was frozen or backed up`,
    );
  }
  if (source.quiesce === 'auto' && quiesce !== null && quiesce !== undefined) {
    context.warn(
      `the guest agent of ${domain} did not answer within ${AGENT_TIMEOUT_S} s (${quiesce}): the backup is crash-consistent, not quiesced`,
    );
  }
  return quiesce;
}

/** A backup job written on the node, not begun yet. */
interface PreparedBackupJob {
  readonly socket: string;
  readonly backupFile: string;
  /** Absent: no qcow2 disk, no checkpoint. */
  readonly checkpointFile?: string;
  readonly name?: string;
  readonly incrementalFrom?: string;
}

// The run's scratch directory, the job's and the checkpoint's XML in it, each recorded and
// registered for undo as it is taken: the directory after the job, the checkpoint after the job.
async function prepareBackupJob(
  source: LibvirtSource,
  disks: readonly SourceDiskJob[],
  virsh: ReturnType<typeof virshOn>,
  context: SnapshotContext,
): Promise<PreparedBackupJob> {
  const { domain, uri } = source;
  const first = libvirtOf(disks[0]!);
  const dir = runScratchDir(source.scratch, context.runId);
  const socket = `${dir}/nbd.sock`;
  const name = disks.find((disk) => disk.changeId)?.changeId;
  const incrementalFrom = disks.find((disk) => disk.fromChangeId)?.fromChangeId;
  await context.record('scratch-dir', dir, { domain, uri });
  context.takes(`remove ${dir} on the node`, 'always', async () => {
    await removeScratchDir(context.exec, dir);
    await context.forget('scratch-dir', dir);
  });
  await makeScratchDir(context.exec, source.scratch, dir, first.runsAs);
  const covered = disks.filter((disk) => disk.changeId).map((disk) => libvirtOf(disk).target);
  const others = [
    ...first.otherTargets,
    ...disks.filter((disk) => !disk.changeId).map((disk) => libvirtOf(disk).target),
  ];
  const backupFile = `${dir}/backup.xml`;
  const scratchOf = (target: string) => `${dir}/scratch-${target}.qcow2`;
  await writeNodeFile(
    context.exec,
    backupFile,
    backupXml(
      socket,
      disks.map((disk) => ({ target: libvirtOf(disk).target, scratch: scratchOf(libvirtOf(disk).target) })),
      first.otherTargets,
      incrementalFrom,
    ),
  );
  const checkpointFile = `${dir}/checkpoint.xml`;
  if (name !== undefined) {
    await writeNodeFile(context.exec, checkpointFile, checkpointXml(name, context.runId, covered, others));
    await takeCheckpointRecord(source, name, disks.filter((disk) => disk.changeId).map(checkpointDisk), context);
  }
  await context.record('backup-job', socket, { domain, uri });
  context.takes(`end the backup job of ${domain}`, 'always', async () => {
    await endBackupJob(virsh, domain, socket);
    await context.forget('backup-job', socket);
  });
  return { socket, backupFile, ...(name === undefined ? {} : { checkpointFile, name }), incrementalFrom };
}

// The guest's filesystems frozen, the job begun, thawed at once (a watchdog on the node thaws it if
// this process dies meanwhile): how long, and how many filesystems.
async function beginFrozen(
  source: LibvirtSource,
  virsh: ReturnType<typeof virshOn>,
  job: PreparedBackupJob,
  context: SnapshotContext,
): Promise<{ readonly ms: number; readonly count: number }> {
  const { domain, uri } = source;
  await context.record('guest-freeze', domain, { domain, uri });
  const watchdog = startThawWatchdog(context, uri, domain);
  let thawed = false;
  const thaw = async () => {
    if (thawed) return;
    await thawGuest(virsh, domain);
    thawed = true;
    await watchdog.release();
    await context.forget('guest-freeze', domain);
  };
  context.takes(`thaw the filesystems of ${domain}`, 'always', thaw);
  const frozenAt = performance.now();
  let count = 0;
  try {
    count = await freezeGuest(virsh, domain);
    crashPoint('libvirt.guest-frozen');
    await beginBackup(virsh, domain, job.backupFile, job.checkpointFile);
  } finally {
    await thaw();
  }
  return { ms: Math.round(performance.now() - frozenAt), count };
}

// The new checkpoint is ours to remove until the backup is complete (and doctor's after a kill -9).
async function takeCheckpointRecord(
  source: LibvirtSource,
  name: string,
  disks: readonly CheckpointDisk[],
  context: SnapshotContext,
): Promise<void> {
  const virsh = virshOn(context.exec, source.uri);
  await context.rememberCheckpointDomain(source.uri, source.domain);
  await context.record('checkpoint', name, {
    domain: source.domain,
    uri: source.uri,
    disks,
    backupId: context.backupId,
  });
  context.takes(`delete checkpoint ${name} of ${source.domain}`, 'failure', async () => {
    await deleteCheckpoint(virsh, context.exec, source.domain, name, disks);
    await context.forget('checkpoint', name);
  });
  context.takes(`keep checkpoint ${name}`, 'success', () => context.forget('checkpoint', name));
}

// What the node transfer will read must be what libvirt exports (names, bitmaps).
async function checkExports(
  virsh: ReturnType<typeof virshOn>,
  domain: string,
  socket: string,
  disks: readonly SourceDiskJob[],
  incremental: boolean,
): Promise<void> {
  const job = await runningBackupJob(virsh, domain);
  if (job === undefined || job.socket !== socket)
    throw new SendenseError(`the backup job of ${domain} is not running after it started (aborted by someone else?)`);
  for (const disk of disks) {
    const want = expectedExport(libvirtOf(disk).target, incremental);
    const got = job.exports.find((entry) => entry.target === want.target);
    if (
      got === undefined ||
      got.exportName !== want.exportName ||
      (incremental && got.exportBitmap !== want.exportBitmap)
    ) {
      throw new SendenseError(
        `libvirt exports disk ${want.target} of ${domain} as ${got ? `'${got.exportName}' (bitmap ${got.exportBitmap ?? 'none'})` : 'nothing'}, not as expected`,
      );
    }
  }
}
