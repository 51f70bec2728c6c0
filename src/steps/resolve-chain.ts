// resolve-chain: per disk, what the source is and how big; then full or incremental, the parent
// backup and the change_id to start from. Creates the backup's records (status running).

import type { BackupDiskJob, BackupRun, BackupState, DiskSource } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { unknownBackups } from '../repository/catalog-import.js';
import { backupFile, bitmapName, exportName, isSendenseBitmap, newBackupId } from '../repository/layout.js';
import type { Backup } from '../store/index.js';
import { plural } from '../format/plural.js';
import { vmwarePassword } from '../vmware/client.js';
import { decideChain, ownBitmap, type SourceDiskFacts } from './chain-decision.js';
import { inspectSourceDisk } from './inspect-source.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';

export const resolveChain: Step<BackupRun> = {
  name: 'resolve-chain',
  title: (run) => `find the parent backup of ${run.plan.vm.name} (${plural(run.plan.vm.source.disks.length, 'disk')})`,
  async run(run) {
    const { plan, store } = run;
    await store.lockVm(plan.vm.name, run.runId, plan.name);
    run.undo.push({
      what: `unlock VM ${plan.vm.name}`,
      when: 'always',
      step: 'resolve-chain',
      run: () => store.unlockVm(plan.vm.name, run.runId),
    });
    await refuseUnfinishedMerge(store, plan.vm.name, 'resolve-chain');
    // A missing VMware password stops the run before anything is taken.
    if (plan.vm.source.type === 'vmware') vmwarePassword(plan.vm.source);
    // Backups in the repository the database does not know: a new chain now would be built blind beside them.
    const unknown = await unknownBackups(store, plan.repository.path, plan.vm.name);
    if (unknown.length > 0) {
      throw new SendenseError(
        `${plan.repository.path} holds ${plural(unknown.length, 'backup')} of ${plan.vm.name} this database does not know (${unknown.join(', ')}): record them first with sendense-run catalog import ${plan.repository.path}`,
        { step: 'resolve-chain', exitCode: 1 },
      );
    }
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    const facts = await Promise.all(plan.vm.source.disks.map((disk) => inspectSourceDisk(exec, plan.vm.source, disk.key)));
    const latest = await store.latestCompleteBackup(plan.vm.name, plan.repository.path);
    // A damaged backup is never a parent, nor is anything older in its chain: the next one starts a new chain.
    const damaged = await newestDamaged(store, plan.vm.name, plan.repository.path, latest);
    const previous = damaged === undefined ? latest : undefined;
    if (damaged !== undefined && plan.kind === 'incremental') {
      run.reporter.emit({ type: 'warning', step: 'resolve-chain', message: `backup ${damaged.id} is damaged (${damaged.damage}): taking a full backup into a new chain` });
    }
    const chainLength = previous ? await store.chainLength(previous.chainId) : 0;
    // A parent whose file is gone or whose header is destroyed cannot carry an incremental.
    const decision = decideChain(plan, previous, chainLength, facts, (file) => qcow2HeaderProblem(file) === undefined);
    if (decision.type === 'fail') {
      throw new SendenseError(decision.reason, { step: 'resolve-chain', exitCode: 1 });
    }
    if (decision.type === 'full' && decision.warning) run.reporter.emit({ type: 'warning', step: 'resolve-chain', message: decision.warning });
    if (decision.type === 'full' && decision.note) run.reporter.emit({ type: 'info', step: 'resolve-chain', message: decision.note });
    const parent = decision.type === 'incremental' ? previous : undefined;

    const backupId = newBackupId();
    const incremental = parent !== undefined;
    const chainId = incremental ? parent.chainId : backupId;
    const disks: BackupDiskJob[] = facts.map((fact) => {
      const parentDisk = incremental ? parent.disks.find((disk) => disk.diskKey === fact.key) : undefined;
      return {
        key: fact.key,
        source: fact.source,
        virtualSize: fact.source.type === 'vmware' && parentDisk ? parentDisk.virtualSize : fact.virtualSize,
        file: backupFile(plan.repository.path, plan.vm.name, fact.key, backupId),
        parentFile: parentDisk?.file,
        fromChangeId: parentDisk?.changeId ?? undefined,
        changeId: newChangeId(fact, chainId, backupId),
        exportName: exportName(plan.vm.name, fact.key),
      };
    });
    run.state = {
      backupId,
      chainId,
      type: incremental ? 'incremental' : 'full',
      parentId: incremental ? parent.id : undefined,
      disks,
      supersededBitmaps: supersededBitmaps(previous, facts),
    };

    // Registered first: a failed run leaves its record as failed (history), never as a possible parent.
    run.undo.push({
      what: `mark backup ${backupId} failed`,
      when: 'failure',
      step: 'resolve-chain',
      run: () => store.failBackup(backupId),
    });
    await store.createBackup({
      id: backupId,
      vm: plan.vm.name,
      plan: plan.name,
      type: run.state.type,
      parentId: run.state.parentId,
      repository: plan.repository.path,
      runId: run.runId,
    });
    for (const disk of disks) {
      await store.addBackupDisk(backupId, {
        diskKey: disk.key,
        file: disk.file,
        virtualSize: disk.virtualSize,
        source: sourceLabel(disk.source),
        sourceNode: run.node.description,
        // The bitmap this backup adds (doctor removes it if the run dies); an nbd export's is not ours.
        bitmap: disk.source.type === 'qemu' ? disk.changeId : undefined,
      });
    }
    const from = incremental ? `incremental on ${parent.id} (chain ${chainId}, length ${chainLength + 1})` : `full, new chain`;
    return `backup ${backupId}: ${from}`;
  },
};

// Bitmaps of the previous complete backup (any chain) of this repository: once this backup is
// complete no incremental will start from them, and an unused bitmap costs the source writes.
// Only the one that backup's own chain added: another chain's bitmap is never ours to remove.
function supersededBitmaps(previous: Backup | undefined, facts: readonly SourceDiskFacts[]): BackupState['supersededBitmaps'] {
  if (previous === undefined) return [];
  return facts.flatMap((fact) => {
    const name = previous.disks.find((disk) => disk.diskKey === fact.key)?.changeId;
    const own = name === ownBitmap(previous);
    const present = fact.path !== undefined && own && name && fact.bitmaps?.some((bitmap) => bitmap.name === name && isSendenseBitmap(name));
    return present ? [{ key: fact.key, path: fact.path!, name: name! }] : [];
  });
}

// The change_id this backup records: qemu qcow2, the bitmap it adds; nbd, the export's bitmap that
// was already tracking when the data was read (the next incremental reads it again, cumulatively).
function newChangeId(fact: SourceDiskFacts, chainId: string, backupId: string): string | undefined {
  if (fact.source.type === 'qemu') return fact.source.format === 'qcow2' && fact.canStoreBitmaps !== false ? bitmapName(chainId, backupId) : undefined;
  if (fact.source.type === 'nbd') return fact.bitmapOffered ? fact.source.bitmap : undefined;
  return undefined;
}

function sourceLabel(source: DiskSource): string {
  return source.type === 'qemu' ? source.path : source.type === 'nbd' ? source.url : 'vmware';
}


// The newest backup of this VM in this repository when it is damaged and newer than `latest`.
async function newestDamaged(store: BackupRun['store'], vm: string, repository: string, latest: Backup | undefined): Promise<Backup | undefined> {
  const recorded = (await store.listBackups({ vm })).filter((backup) => backup.repository === repository && (backup.status === 'complete' || backup.status === 'damaged'));
  const newest = recorded[recorded.length - 1];
  if (newest?.status !== 'damaged') return undefined;
  return latest === undefined || latest.chainId === newest.chainId || newest.startedAt >= latest.startedAt ? newest : undefined;
}
