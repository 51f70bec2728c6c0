// `sendense-run doctor`: what killed runs left behind, found by the records in the state database
// and the owner tag of their children (docs/how-it-works.md, "The data path"), one sweeper each, in
// this order: recoveries first (a recovered domain may still read a dead run's qemu-nbd), then
// processes (a merge resumes only once the dead run's qemu-nbd is stopped), runs last.

import type { Store } from '../store/index.js';
import { browseFoldersSweeper } from './browse-folders.js';
import { deadRunsSweeper } from './dead-runs.js';
import { diskSlotsSweeper } from './disk-slots.js';
import { fileMountsSweeper } from './file-mounts.js';
import { interruptedMergesSweeper } from './interrupted-merges.js';
import { layerFactsSweeper } from './layer-facts.js';
import { manifestTempsSweeper } from './manifest-temps.js';
import { markerTempsSweeper } from './marker-temps.js';
import { nodeResourcesSweeper } from './node-resources.js';
import { orphanBitmapsSweeper } from './orphan-bitmaps.js';
import { orphanCheckpointsSweeper } from './orphan-checkpoints.js';
import { orphanProcessesSweeper } from './orphan-processes.js';
import { portLeasesSweeper } from './port-leases.js';
import { processesSweeper } from './processes.js';
import { recoveriesSweeper } from './recoveries.js';
import { runFilesSweeper } from './run-files.js';
import { doctorPass } from './doctor-context.js';
import { NO_CONSENT, type DoctorConsent, type Finding, type Sweeper } from './sweeper.js';
import { unfinishedBackupsSweeper } from './unfinished-backups.js';
import { vmLocksSweeper } from './vm-locks.js';

export type { DoctorConsent, Finding, Sweeper } from './sweeper.js';

export const SWEEPERS: readonly Sweeper[] = [
  recoveriesSweeper,
  processesSweeper,
  orphanProcessesSweeper,
  nodeResourcesSweeper,
  portLeasesSweeper,
  interruptedMergesSweeper,
  unfinishedBackupsSweeper,
  layerFactsSweeper,
  manifestTempsSweeper,
  markerTempsSweeper,
  orphanBitmapsSweeper,
  orphanCheckpointsSweeper,
  fileMountsSweeper,
  browseFoldersSweeper,
  runFilesSweeper,
  vmLocksSweeper,
  diskSlotsSweeper,
  deadRunsSweeper,
];

// State-database tables no sweeper needs: nothing a run takes and could leave behind.
export const UNSWEPT_TABLES: Readonly<Record<string, string>> = {
  hub_processes: "each hub's heartbeat: a dead hub's row is told apart by its age and dropped after a day",
  dropped_points:
    'what became of a point a merge or a removal took away: history, kept as long as the runs that made it (docs/commands.md#history)',
  replica_failovers:
    "a failover is the operator's act, not a run's leftover: it stops the plan's syncs for good (docs/replication.md#failover)",
  api_tokens: "the API's tokens: the operator's, removed with `token remove` (docs/api.md#tokens-and-roles)",
  api_audit: 'the record of every action taken through the API: kept, as history is (docs/api.md#the-audit-record)',
  checkpoint_domains:
    'the libvirt domains runs took checkpoints on, kept for good: where doctor looks for orphaned checkpoints (docs/how-it-works.md#checkpoints-on-a-domain)',
  retired_chains:
    "the chains `retire` ended: the operator's act, read by the plan's next run (a new chain) (docs/commands.md#retire)",
  api_tasks:
    'what the API started: a task whose process is gone with no end recorded (its server died) is marked lost by a server, its run is a run doctor sweeps (docs/api.md#tasks)',
  repository_numbers:
    "each repository's number, the old system's repository_id: kept for good so a number is never reused (docs/api.md#repositories)",
  backup_changes:
    'one counter every change of a point raises, so a listing built once is answered again until a point changes: one row, nothing left over (docs/how-it-works.md#what-a-listing-reads)',
  drills:
    "each drill's outcome, its checks and screenshot: history, kept as long as the runs (docs/drills.md#what-a-drill-records); what a drill made on a node is a node resource doctor gives back",
  point_figures:
    "each incremental's changed bytes and randomness, the VM's history that suspect points are judged by: kept after a merge takes the point away (docs/anomaly.md)",
};

export interface DoctorReport {
  readonly findings: readonly Finding[];
  /** What doctor saw and rightly left alone (a run still going): said, not counted as a finding. */
  readonly notes: readonly string[];
}

export async function runDoctor(
  store: Store,
  stateDatabase: string,
  dryRun: boolean,
  sweepers: readonly Sweeper[] = SWEEPERS,
  consent: DoctorConsent = NO_CONSENT,
): Promise<DoctorReport> {
  const { doctor, findings, liveRuns } = await doctorPass(store, stateDatabase, dryRun, consent);
  for (const sweeper of sweepers) await sweeper.sweep(doctor);
  return { findings, notes: [...liveRuns].map((id) => `run ${id} is still running: left alone`) };
}
