// The Store over kysely, on SQLite or PostgreSQL: each method delegates to the file for its
// concern; `self` is this process as the rows it writes name it (hub, host, PID).

import type { Kysely } from 'kysely';
import { apiRecords } from './api-records.js';
import { repositoryNumbers } from './repository-numbers.js';
import * as backups from './backups.js';
import * as checkpointRecords from './checkpoint-records.js';
import { dialectOf } from './dialect.js';
import * as diskSlots from './disk-slots.js';
import * as drills from './drills.js';
import * as fileMounts from './file-mounts.js';
import * as leases from './leases.js';
import * as merges from './merges.js';
import * as vmLocks from './vm-locks.js';
import * as processes from './processes.js';
import * as runFiles from './run-files.js';
import * as nodeResources from './node-resources.js';
import * as replicaPoints from './replica-points.js';
import * as runs from './runs.js';
import type { StoreSelf } from './hub-liveness.js';
import type { StoreDatabase } from './schema.js';
import type { Store } from './store.js';

export interface SqlStoreOptions {
  readonly self: StoreSelf;

  /** Runs before the database is closed (stops the heartbeat). */
  readonly beforeClose?: () => Promise<void>;
  /** PostgreSQL: aborted while this process cannot write its heartbeat (hub-liveness.ts). */
  readonly fenced?: () => AbortSignal;
}

const NEVER = new AbortController().signal;

export function sqlStore(db: Kysely<StoreDatabase>, { self, beforeClose, fenced }: SqlStoreOptions): Store {
  let closed: Promise<void> | undefined;
  const store: Store = {
    hub: self.hub,
    sharedByHubs: dialectOf(db).sharedByHubs,
    fenced: fenced ?? (() => NEVER),
    ...runRecords(db, self),
    ...backupRecords(db),
    ...replicaRecords(db),
    ...claimRecords(db, self),
    api: apiRecords(db),
    repositories: repositoryNumbers(db),
    ...leftoverRecords(db),
    ...chainRecords(db),
    close: () =>
      (closed ??= (async () => {
        try {
          await beforeClose?.();
        } finally {
          await db.destroy();
        }
      })()),
  };
  return Object.freeze(store);
}

// Runs: their start, notes, figures and end.
function runRecords(db: Kysely<StoreDatabase>, self: StoreSelf) {
  return {
    createRun: (run) => runs.createRun(db, self, run),
    finishRun: (id, status, error, record) => runs.finishRun(db, id, status, error, record),
    noteRun: (id, note) => runs.noteRun(db, id, note),
    recordRunBytes: (id, bytes) => runs.recordRunBytes(db, id, bytes),
    recordVmWait: (id, seconds) => runs.recordVmWait(db, id, seconds),
    recordSkippedRun: (run) => runs.recordSkippedRun(db, self, run),
    claimFire: (run) => runs.claimFire(db, self, run),
    reapDeadRuns: () => runs.reapDeadRuns(db, self),
    getRun: (id) => runs.getRun(db, id),
    acknowledgeRun: (id, by) => runs.acknowledgeRun(db, id, by),
    listRuns: (filter) => runs.listRuns(db, filter),
    runningRuns: () => runs.runningRuns(db),
    runPlanFiles: () => runs.runPlanFiles(db),
  } satisfies Partial<Store>;
}

// Backup points, their disks and facts, and restore drills.
function backupRecords(db: Kysely<StoreDatabase>) {
  return {
    createBackup: (backup) => backups.createBackup(db, backup),
    addBackupDisk: (backupId, disk) => backups.addBackupDisk(db, backupId, disk),
    completeBackupDisk: (backupId, diskKey, result) => backups.completeBackupDisk(db, backupId, diskKey, result),
    completeBackup: (id, bytes) => backups.completeBackup(db, id, bytes),
    failBackup: (id) => backups.failBackup(db, id),
    deleteBackup: (id) => backups.deleteBackup(db, id),
    getBackup: (id) => backups.getBackup(db, id),
    listBackups: (filter) => backups.listBackups(db, filter),
    latestCompleteBackup: (vm, repository, plan) => backups.latestCompleteBackup(db, vm, repository, plan),
    completeBackupAtOrBefore: (vm, time, repository) => backups.completeBackupAtOrBefore(db, vm, time, repository),
    chainOf: (backupId) => backups.chainOf(db, backupId),
    chainLength: (chainId) => backups.chainLength(db, chainId),
    incompleteBackups: () => backups.incompleteBackups(db),
    markDamaged: (ids, damage) => backups.markDamaged(db, ids, damage),
    clearDamage: (id) => backups.clearDamage(db, id),
    setProtected: (id, on) => backups.setProtected(db, id, on),
    markSuspect: (id, reasons, keep) => backups.markSuspect(db, id, reasons, keep),
    clearSuspect: (id, by) => backups.clearSuspect(db, id, by),
    recordPointFigures: (figures) => backups.recordPointFigures(db, figures),
    pointFiguresHistory: (vm, repository, limit) => backups.pointFiguresHistory(db, vm, repository, limit),
    recordVerification: (id, at) => backups.recordVerification(db, id, at),
    listBackupsWithFacts: (filter) => backups.listBackupsWithFacts(db, filter),
    layerFacts: (filter) => backups.layerFacts(db, filter),
    recordLayerFacts: (facts) => backups.recordLayerFacts(db, facts),
    backupsGeneration: () => backups.backupsGeneration(db),
    recordDrill: (drill) => drills.recordDrill(db, drill),
    listDrills: (filter, limit) => drills.listDrills(db, filter, limit),
    drillOfRun: (runId) => drills.drillOfRun(db, runId),
    importBackup: (backup) => backups.importBackup(db, backup),
    relocateBackup: (id, repository, files) => backups.relocateBackup(db, id, repository, files),
  } satisfies Partial<Store>;
}

function replicaRecords(db: Kysely<StoreDatabase>) {
  return {
    createReplicaPoint: (point) => replicaPoints.createReplicaPoint(db, point),
    addReplicaPointDisk: (pointId, disk) => replicaPoints.addReplicaPointDisk(db, pointId, disk),
    replicaPointTaken: (pointId, takenAt) => replicaPoints.replicaPointTaken(db, pointId, takenAt),
    completeReplicaPointDisk: (pointId, diskKey, facts) =>
      replicaPoints.completeReplicaPointDisk(db, pointId, diskKey, facts),
    setReplicaPointStatus: (pointId, status, facts) => replicaPoints.setReplicaPointStatus(db, pointId, status, facts),
    getReplicaPoint: (id) => replicaPoints.getReplicaPoint(db, id),
    listReplicaPoints: (filter) => replicaPoints.listReplicaPoints(db, filter),
    latestCompleteReplicaPoint: (plan) => replicaPoints.latestCompleteReplicaPoint(db, plan),
    recordReplicaFailover: (failover) => replicaPoints.recordReplicaFailover(db, failover),
    replicaFailover: (plan) => replicaPoints.replicaFailover(db, plan),
    forgetReplicaFailover: (plan) => replicaPoints.forgetReplicaFailover(db, plan),
  } satisfies Partial<Store>;
}

// What a run claims while it works (a VM, ports, disk slots), given back when it ends.
function claimRecords(db: Kysely<StoreDatabase>, self: StoreSelf) {
  return {
    lockVm: (vm, runId, plan) => vmLocks.lockVm(db, self, vm, runId, plan),
    unlockVm: (vm, runId) => vmLocks.unlockVm(db, vm, runId),
    listVmLocks: () => vmLocks.listVmLocks(db),
    leasePorts: (request) => leases.leasePorts(db, self, request),
    leasablePorts: (request) => leases.leasablePorts(db, self, request),
    releasePorts: (runId) => leases.releasePorts(db, runId),
    releasePort: (port) => leases.releasePort(db, port),
    listLeases: () => leases.listLeases(db),

    tryTakeSlots: (request) => diskSlots.tryTakeSlots(db, self, request),
    releaseSlots: (runId) => diskSlots.releaseSlots(db, runId),
    listSlots: () => diskSlots.listSlots(db),
    recordQueued: (runId, seconds) => diskSlots.recordQueued(db, runId, seconds),
  } satisfies Partial<Store>;
}

// What runs leave on hosts (processes, mounts, files, node resources), for doctor to give back.
function leftoverRecords(db: Kysely<StoreDatabase>) {
  return {
    recordProcess: (runId, pid, kind, argv, startTicks) =>
      processes.recordProcess(db, runId, pid, kind, argv, startTicks),
    forgetProcess: (pid, startTicks) => processes.forgetProcess(db, pid, startTicks),
    allProcesses: () => processes.allProcesses(db),

    recordFileMount: (mount) => fileMounts.recordFileMount(db, mount),
    forgetFileMount: (dir) => fileMounts.forgetFileMount(db, dir),
    listFileMounts: () => fileMounts.listFileMounts(db),
    recordRunFile: (file) => runFiles.recordRunFile(db, file),
    forgetRunFile: (node, path) => runFiles.forgetRunFile(db, node, path),
    allRunFiles: () => runFiles.allRunFiles(db),
    recordNodeResource: (resource) => nodeResources.recordNodeResource(db, resource),
    forgetNodeResource: (node, kind, name) => nodeResources.forgetNodeResource(db, node, kind, name),
    allNodeResources: () => nodeResources.allNodeResources(db),
  } satisfies Partial<Store>;
}

// Checkpoint domains, retired chains and merges of points.
function chainRecords(db: Kysely<StoreDatabase>) {
  return {
    recordCheckpointDomain: (where) => checkpointRecords.recordCheckpointDomain(db, where),
    checkpointDomains: () => checkpointRecords.checkpointDomains(db),
    retireChains: (chains) => checkpointRecords.retireChains(db, chains),
    retiredChains: () => checkpointRecords.retiredChains(db),

    recordMerge: (merge) => merges.recordMerge(db, merge),
    setMergePhase: (id, phase) => merges.setMergePhase(db, id, phase),
    forgetMerge: (id) => merges.forgetMerge(db, id),
    listMerges: (filter) => merges.listMerges(db, filter),
    dropPoint: (parentId, childId, mergeId) => merges.dropPoint(db, parentId, childId, mergeId),
    removePoint: (backupId, files) => merges.removePoint(db, backupId, files),
    droppedPoints: (backupIds) => merges.droppedPoints(db, backupIds),
  } satisfies Partial<Store>;
}
