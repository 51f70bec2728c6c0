// resolve-chain: per disk, what the source is and how big; then full or incremental, the parent
// backup and the change_id to start from. Creates the backup's records (status running).

import { existsSync } from 'node:fs';
import type { BackupDiskJob, BackupRun, BackupState, DiskSource } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import type { Source } from '../plan/types.js';
import { imageInfo } from '../qemu/index.js';
import { nbdOffersDirtyBitmap } from '../qemu/nbd-dirty-bitmap.js';
import { backupFile, bitmapName, exportName, isSendenseBitmap, newBackupId } from '../repository/layout.js';
import type { Backup } from '../store/index.js';
import { plural } from '../format/plural.js';
import { PROVISIONAL_VIRTUAL_SIZE, vmwarePassword } from '../vmware/client.js';
import { decideChain, type SourceDiskFacts } from './chain-decision.js';

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
    // A missing VMware password stops the run before anything is taken.
    if (plan.vm.source.type === 'vmware') vmwarePassword(plan.vm.source);
    const facts = await Promise.all(plan.vm.source.disks.map((disk) => inspectSourceDisk(run, plan.vm.source, disk.key)));
    const previous = await store.latestCompleteBackup(plan.vm.name, plan.repository.path);
    const chainLength = previous ? await store.chainLength(previous.chainId) : 0;
    const decision = decideChain(plan, previous, chainLength, facts, existsSync);
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
    // A failed run leaves its record as failed (history), never as a possible parent.
    run.undo.push({
      what: `mark backup ${backupId} failed`,
      when: 'failure',
      step: 'resolve-chain',
      run: () => store.failBackup(backupId),
    });
    const from = incremental ? `incremental on ${parent.id} (chain ${chainId}, length ${chainLength + 1})` : `full, new chain`;
    return `backup ${backupId}: ${from}`;
  },
};

// Reads the size, format and bitmaps of one source disk on the node; a missing disk is one clear error.
async function inspectSourceDisk(run: BackupRun, source: Source, key: number): Promise<SourceDiskFacts> {
  const exec = (argv: readonly string[]) => run.node.exec(argv);
  if (source.type === 'qemu') {
    const disk = source.disks.find((d) => d.key === key)!;
    const info = await imageInfo(disk.path, { runner: exec, format: disk.format }).catch((error: unknown) => {
      throw new SendenseError((error as Error).message, { step: 'resolve-chain', disk: key, cause: error });
    });
    const format = info.format === 'raw' ? 'raw' : info.format === 'qcow2' ? 'qcow2' : undefined;
    if (format === undefined) {
      throw new SendenseError(`${disk.path} is a ${info.format} image; qemu sources must be qcow2 or raw`, {
        step: 'resolve-chain',
        disk: key,
      });
    }
    refuseEmptyDisk(info.virtualSize, disk.path, key);
    // A *.qcow2 path that probes as raw is a damaged or wrong file, not a disk to copy byte for byte.
    if (disk.format === undefined && format === 'raw' && /\.qcow2$/i.test(disk.path)) {
      throw new SendenseError(`${disk.path} is not a qcow2 image (qemu-img sees raw data); if it really is a raw disk, say format: raw`, {
        step: 'resolve-chain',
        disk: key,
      });
    }
    const diskSource: DiskSource = { type: 'qemu', path: disk.path, format };
    return { key, source: diskSource, virtualSize: info.virtualSize, bitmaps: info.bitmaps, path: disk.path, canStoreBitmaps: info.canStoreBitmaps };
  }
  if (source.type === 'nbd') {
    const disk = source.disks.find((d) => d.key === key)!;
    const info = await imageInfo(disk.url, { runner: exec, format: 'raw' }).catch((error: unknown) => {
      throw new SendenseError(`cannot open ${disk.url}: ${(error as Error).message}`, {
        step: 'resolve-chain',
        disk: key,
        cause: error,
      });
    });
    refuseEmptyDisk(info.virtualSize, disk.url, key);
    const bitmapOffered = disk.bitmap === undefined ? undefined : await nbdOffersDirtyBitmap(disk.url, disk.bitmap, exec);
    return { key, source: { type: 'nbd', url: disk.url, bitmap: disk.bitmap }, virtualSize: info.virtualSize, bitmapOffered };
  }
  // VMware: the client reads the disks; the size comes from the parent or, for a full, from the client.
  return { key, source: { type: 'vmware' }, virtualSize: PROVISIONAL_VIRTUAL_SIZE };
}

// A zero-size source (an empty raw file, /dev/null) has nothing to back up and no qcow2 can hold it.
function refuseEmptyDisk(virtualSize: number, where: string, key: number): void {
  if (virtualSize > 0) return;
  throw new SendenseError(`${where} is empty (virtual size 0 bytes): nothing to back up; is it the right disk?`, { step: 'resolve-chain', disk: key });
}

// Bitmaps of the previous complete backup (any chain) of this repository: once this backup is
// complete no incremental will start from them, and an unused bitmap costs the source writes.
function supersededBitmaps(previous: Backup | undefined, facts: readonly SourceDiskFacts[]): BackupState['supersededBitmaps'] {
  if (previous === undefined) return [];
  return facts.flatMap((fact) => {
    const name = previous.disks.find((disk) => disk.diskKey === fact.key)?.changeId;
    const present = fact.path !== undefined && name && fact.bitmaps?.some((bitmap) => bitmap.name === name && isSendenseBitmap(name));
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

