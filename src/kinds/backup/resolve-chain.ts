// resolve-chain: per disk, what the source is and how big; then full or incremental, the parent
// backup and the change_id to start from. Creates the backup's records (status running).

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { BackupDiskJob, BackupRun, BackupState } from './backup-run.js';
import { wouldFail, type Step } from '../../engine/step.js';
import { holdVm } from '../../engine/vm-turn.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import type { BackupPlan } from '../../plan/types.js';
import { chainFileProblem, describeChainFileProblem, type ChainFileProblem } from '../../repository/chain-files.js';
import { descendants } from '../../verify/verify-backups.js';
import { unknownBackups } from '../../repository/catalog-import.js';
import { backupFile, exportName, newBackupId } from '../../repository/layout.js';
import { manifestPath } from '../../repository/manifest.js';
import { execOn } from '../../libvirt/virsh.js';
import { backupSource, type SourceDiskFacts } from '../../source/index.js';
import type { Backup, RetiredChain, Store } from '../../store/index.js';
import { plural } from '../../format/plural.js';
import {
  decideChain,
  noCompleteBackup,
  retiredNote,
  type ChainDecision,
  type OtherPlanPoints,
} from './chain-decision.js';
import { refuseUnfinishedMerge } from '../../retention/unfinished-merge.js';
import { refuseOtherVm } from './plan-ownership.js';

/** The id a dry run shows for the backup a run would create. */
export const NEW_BACKUP_ID = '<new-backup-id>';

/** What resolve-chain decides, the same for a run and a dry run; nothing is taken or recorded. */
export interface ChainResolution {
  readonly state: BackupState;
  readonly decision: ChainDecision;
  readonly previous?: Backup;
  readonly chainLength: number;
  /** The newest backup when it is damaged (never a parent). */
  readonly damaged?: Backup;
  /** A file of the previous backup's chain linked to another parent than its own: damage a run marks. */
  readonly relinked?: ChainFileProblem;
  /** What inspecting the source said of the VM as a whole (a domain's state, disks skipped). */
  readonly notes: readonly string[];
}

export const resolveChain: Step<BackupRun> = {
  name: 'resolve-chain',
  facts: ({ state }) => ({
    backupId: state.backupId,
    taken: state.type,
    chainId: state.chainId,
    parentId: state.parentId ?? null,
  }),
  title: (run) =>
    `find the parent backup of ${run.plan.vm.name} (${run.plan.vm.source.disks.length > 0 ? plural(run.plan.vm.source.disks.length, 'disk') : 'disks as the source lists them'})`,
  async run(run) {
    const { plan, store } = run;
    // The run's turn at its VM, taken again by the engine: its cleanup gives it back.
    await holdVm(run, plan.vm.name, 'resolve-chain', { keptWhenTakenAgain: true });
    const resolution = await resolveBackup(run, await unusedBackupId(run));
    const { decision, damaged, chainLength, relinked } = resolution;
    for (const note of resolution.notes) run.reporter.emit({ type: 'info', step: 'resolve-chain', message: note });
    if (relinked !== undefined) {
      const builtOnIt = await markRelinked(store, relinked, run.runId);
      const also =
        builtOnIt.length > 0
          ? `, and the ${plural(builtOnIt.length, 'backup')} built on it (${builtOnIt.join(', ')})`
          : '';
      run.reporter.emit({
        type: 'warning',
        step: 'resolve-chain',
        message: `backup ${relinked.backupId} is now marked damaged${also}: ${describeChainFileProblem(relinked)}`,
      });
    }
    if (damaged !== undefined && plan.kind === 'incremental') {
      run.reporter.emit({
        type: 'warning',
        step: 'resolve-chain',
        message: `backup ${damaged.id} is damaged (${damaged.damage}): taking a full backup into a new chain`,
      });
    }
    if (decision.type === 'fail') {
      throw new SendenseError(decision.reason, { step: 'resolve-chain', exitCode: 1 });
    }
    if (decision.type === 'full' && decision.warning)
      run.reporter.emit({ type: 'warning', step: 'resolve-chain', message: decision.warning });
    if (decision.type === 'full' && decision.note)
      run.reporter.emit({ type: 'info', step: 'resolve-chain', message: decision.note });
    const state = resolution.state;
    const source = backupSource(plan.vm.source);
    await refuseOtherVm(
      store,
      plan,
      state.disks.map((disk) => ({ key: disk.key, label: source.label(disk) })),
      run.node.id,
    );
    run.state = state;
    const { backupId, chainId } = state;

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
      type: state.type,
      parentId: state.parentId,
      repository: plan.repository.path,
      runId: run.runId,
    });
    for (const disk of state.disks) {
      await store.addBackupDisk(backupId, {
        diskKey: disk.key,
        file: disk.file,
        virtualSize: disk.virtualSize,
        source: source.label(disk),
        sourceNode: run.node.id,
        // The bitmap this backup adds (doctor removes it if the run dies); an nbd export's is not ours.
        bitmap: source.addedBitmap(disk),
      });
    }
    const from =
      state.parentId !== undefined
        ? `incremental on ${state.parentId} (chain ${chainId}, length ${chainLength + 1})`
        : `full, new chain`;
    return `backup ${backupId}: ${from}`;
  },
  async would(run) {
    const { plan } = run;
    const idLine = `new backup id decided at run time; node: ${run.node.description}`;
    if (!run.node.isLocal && backupSource(plan.vm.source).inspectsFromHub !== true) {
      // The remote node is not contacted in a dry run: what the plan says of the disks, uninspected.
      let found: PreviousBackup;
      try {
        backupSource(plan.vm.source).checkReady();
        found = await findPrevious(run);
      } catch (error) {
        run.state = backupState(plan, NEW_BACKUP_ID, undefined, undefined, uninspected(plan));
        return wouldFail(isSendenseError(error) ? error.describe() : (error as Error).message, idLine);
      }
      const { previous } = found;
      const incremental =
        plan.kind === 'incremental' && previous !== undefined && found.chainLength < plan.incremental.maxChainLength;
      run.state = backupState(plan, NEW_BACKUP_ID, incremental ? previous : undefined, previous, uninspected(plan));
      const chain = incremental
        ? `incremental on backup ${previous.id} if its change tracking is intact (the remote node is not contacted in a dry run)`
        : `full backup into a new chain${previous ? '' : ` (${found.retired ? retiredNote(found.retired) : noCompleteBackup(plan, found.others, 'yet')})`}`;
      const unlisted =
        plan.vm.source.disks.length === 0
          ? [
              `disks: those of ${plan.vm.name} the node lists when the run asks it (the remote node is not contacted in a dry run)`,
            ]
          : [];
      return [chain, ...unlisted, idLine].join('\n');
    }
    let resolution: ChainResolution;
    try {
      resolution = await resolveBackup(run, NEW_BACKUP_ID);
    } catch (error) {
      // The run's resolve-chain would stop on the same error: said whatever the kind.
      run.state = backupState(plan, NEW_BACKUP_ID, undefined, undefined, uninspected(plan));
      return wouldFail(isSendenseError(error) ? error.describe() : (error as Error).message, idLine);
    }
    const { decision, previous, chainLength, damaged, state, notes } = resolution;
    run.state = state;
    if (decision.type === 'fail') return wouldFail(decision.reason, ...notes, idLine);
    const why =
      damaged !== undefined && plan.kind === 'incremental'
        ? `backup ${damaged.id} is damaged (${damaged.damage})`
        : decision.type === 'full'
          ? (decision.warning ?? decision.note)
          : undefined;
    const chain =
      decision.type === 'incremental'
        ? `incremental on backup ${previous!.id} (chain ${previous!.chainId}, ${chainLength + 1}${Number.isFinite(plan.incremental.maxChainLength) ? ` of at most ${plan.incremental.maxChainLength}` : ', no limit'})`
        : `full backup into a new chain${why ? `: ${why}` : ''}`;
    return [chain, ...notes, idLine].join('\n');
  },
};

// Ids carry the time to the second and a 16-bit random suffix: two runs in one second could meet.
// An id the database knows or whose file is in the repository is drawn again.
async function unusedBackupId(run: Pick<BackupRun, 'plan' | 'store'>): Promise<string> {
  const vmDir = path.join(run.plan.repository.path, run.plan.vm.name);
  // The disks a source lists only once inspected (libvirt) are among those the repository already has.
  const diskDirs = existsSync(vmDir) ? readdirSync(vmDir).filter((entry) => /^disk-\d+$/.test(entry)) : [];
  const keys = [
    ...new Set([
      ...run.plan.vm.source.disks.map((disk) => disk.key),
      ...diskDirs.map((entry) => Number(entry.slice('disk-'.length))),
    ]),
  ];
  for (;;) {
    const id = newBackupId();
    const files = keys.map((key) => backupFile(run.plan.repository.path, run.plan.vm.name, key, id));
    if (
      (await run.store.getBackup(id)) === undefined &&
      !files.some((file) => existsSync(file) || existsSync(manifestPath(file)))
    )
      return id;
  }
}

// Everything resolve-chain decides before it takes or records anything: the run and the dry run
// both come here (a dry run with a placeholder backup id).
export async function resolveBackup(
  run: Pick<BackupRun, 'plan' | 'store' | 'node'>,
  backupId: string,
): Promise<ChainResolution> {
  const { plan } = run;
  const source = backupSource(plan.vm.source);
  source.checkReady();
  const { previous, chainLength, damaged, others, retired } = await findPrevious(run);
  const inspection = await source.inspect(execOn(run.node), previous);
  const facts = inspection.disks;
  // A chain with a file gone, a header destroyed or a file linked to another parent cannot carry an incremental.
  const chain = previous === undefined ? [] : await run.store.chainOf(previous.id);
  const brokenLinks = new Map<number, ChainFileProblem>();
  for (const disk of facts) {
    const problem = chainFileProblem(chain, [disk.key]);
    if (problem !== undefined) brokenLinks.set(disk.key, problem);
  }
  const decision = decideChain(
    plan,
    previous,
    chainLength,
    facts,
    (key) => {
      const problem = brokenLinks.get(key);
      return problem === undefined ? undefined : describeChainFileProblem(problem);
    },
    others,
    retired,
  );
  const parent = decision.type === 'incremental' ? previous : undefined;
  const relinked = [...brokenLinks.values()].find((problem) => problem.kind === 'backing');
  // No incremental ever starts from a damaged point: its bitmap goes once this backup is complete (docs/how-it-works.md#damaged-points).
  const state = {
    ...backupState(plan, backupId, parent, previous ?? damaged, facts),
    definition: inspection.definition,
  };
  return { state, decision, previous, chainLength, damaged, relinked, notes: inspection.notes };
}

interface PreviousBackup {
  /** The backup an incremental would build on: the newest complete one, unless a newer one is damaged. */
  readonly previous?: Backup;
  readonly chainLength: number;
  readonly damaged?: Backup;
  /** When this plan has no point to build on: the complete points other plans made of the VM there. */
  readonly others: readonly OtherPlanPoints[];
  /** The plan's newest chain, ended by `retire`. */
  readonly retired?: RetiredChain;
}

// What the database knows of this VM's backups in this repository (the source is not read).
async function findPrevious(run: Pick<BackupRun, 'plan' | 'store'>): Promise<PreviousBackup> {
  const { plan, store } = run;
  // Never read through a merge: one recorded for this VM is going on or waits for doctor.
  await refuseUnfinishedMerge(store, plan.vm.name, 'resolve-chain');
  // Backups in the repository the database does not know: a new chain now would be built blind beside them.
  const unknown = await unknownBackups(store, plan.repository.path, plan.vm.name);
  if (unknown.length > 0) {
    throw new SendenseError(
      `${plan.repository.path} holds ${plural(unknown.length, 'backup')} of ${plan.vm.name} this database does not know (${unknown.join(', ')}): record them first with sendense-run catalog import ${plan.repository.path}`,
      { step: 'resolve-chain', exitCode: 1 },
    );
  }
  // A plan continues only its own chain: two plans on one VM keep theirs apart (docs/how-it-works.md#plans-that-share-a-vm).
  const latest = await store.latestCompleteBackup(plan.vm.name, plan.repository.path, plan.name);
  // A retired chain's checkpoints are gone on purpose: a new chain, as asked, not a failure (docs/commands.md#retire).
  const retired = (await store.retiredChains()).find((chain) => chain.chainId === latest?.chainId);
  if (retired !== undefined) return { chainLength: 0, others: [], retired };
  // A damaged backup is never a parent, nor is anything older in its chain: the next one starts a new chain.
  const damaged = await newestDamaged(store, plan, latest);
  const previous = damaged === undefined ? latest : undefined;
  const chainLength = previous ? await store.chainLength(previous.chainId) : 0;
  return { previous, chainLength, damaged, others: latest === undefined ? await otherPlansPoints(store, plan) : [] };
}

// The complete points of the plan's VM in its repository that other plans made, per plan (by name).
async function otherPlansPoints(store: Store, plan: BackupPlan): Promise<OtherPlanPoints[]> {
  const counts = new Map<string, number>();
  for (const backup of await store.listBackups({ vm: plan.vm.name })) {
    if (backup.status === 'complete' && backup.plan !== plan.name && backup.repository === plan.repository.path)
      counts.set(backup.plan, (counts.get(backup.plan) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([name, points]) => ({ plan: name, points }));
}

// The backup a run takes: a full into a new chain, or an incremental on `parent`.
// `superseded`: the backup whose bitmaps no incremental will start from once this one is complete.
function backupState(
  plan: BackupPlan,
  backupId: string,
  parent: Backup | undefined,
  superseded: Backup | undefined,
  facts: readonly SourceDiskFacts[],
): BackupState {
  const source = backupSource(plan.vm.source);
  const chainId = parent !== undefined ? parent.chainId : backupId;
  const disks: BackupDiskJob[] = facts.map((fact) => {
    const parentDisk = parent?.disks.find((disk) => disk.diskKey === fact.key);
    return {
      key: fact.key,
      source: fact.source,
      virtualSize: source.newImageSize(fact, parentDisk),
      file: backupFile(plan.repository.path, plan.vm.name, fact.key, backupId),
      parentFile: parentDisk?.file,
      fromChangeId: parentDisk?.changeId ?? undefined,
      fromSize: parentDisk?.virtualSize,
      changeId: source.newChangeId(fact, chainId, backupId),
      exportName: exportName(plan.vm.name, fact.key),
    };
  });
  return {
    backupId,
    chainId,
    type: parent !== undefined ? 'incremental' : 'full',
    parentId: parent?.id,
    disks,
    supersededBitmaps: source.supersededBitmaps(superseded, facts),
  };
}

// A remote node's disks as the plan names them (a dry run does not contact the node).
function uninspected(plan: BackupPlan): readonly SourceDiskFacts[] {
  return backupSource(plan.vm.source).uninspected();
}

// The newest backup of this plan's VM in its repository when it is damaged and newer than `latest`.
async function newestDamaged(store: Store, plan: BackupPlan, latest: Backup | undefined): Promise<Backup | undefined> {
  const recorded = (await store.listBackups({ vm: plan.vm.name })).filter(
    (backup) =>
      backup.repository === plan.repository.path &&
      backup.plan === plan.name &&
      (backup.status === 'complete' || backup.status === 'damaged'),
  );
  const newest = recorded[recorded.length - 1];
  if (newest?.status !== 'damaged') return undefined;
  return latest === undefined || latest.chainId === newest.chainId || newest.startedAt >= latest.startedAt
    ? newest
    : undefined;
}

// A file that names another parent than the database's is damage, as verify would find it: it and
// everything built on it are never restored or built on again.
async function markRelinked(store: Store, problem: ChainFileProblem, runId: string): Promise<readonly string[]> {
  const backup = await store.getBackup(problem.backupId);
  if (backup === undefined) return [];
  const builtOnIt = descendants(await store.listBackups({ vm: backup.vm }), backup.id);
  await store.markDamaged([backup.id], `run ${runId}: disk ${problem.diskKey}: ${problem.message}`);
  await store.markDamaged(builtOnIt, `built on damaged backup ${backup.id}`);
  return builtOnIt;
}
