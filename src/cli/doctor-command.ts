// `sendense-run doctor [--dry-run]`: find what crashed runs left behind — their qemu-nbd
// processes (by recorded PID and start time, never by name), port leases, half-written backup
// files and the bitmaps they added, interrupted retention merges, mounts of `sendense-run mount` — and give it back. Runs that are still alive are left alone.

import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { hostname } from 'node:os';
import { cleanStaleMounts } from '../files/stale-mounts.js';
import { createLocalNode } from '../node/local.js';
import { isProcessAlive, terminateProcess } from '../process/index.js';
import { bitmapRemove, listBitmaps } from '../qemu/index.js';
import type { NodeHost } from '../node/node.js';
import { orphansOf } from '../process/owner-tag.js';
import { removeEmptyDirs } from '../repository/private-dirs.js';
import { manifestPath } from '../repository/manifest.js';
import { resumeInterruptedMerges } from '../retention/doctor-merges.js';
import type { Backup, Run, Store } from '../store/index.js';
import { rejectLeftovers, takeFlag } from './args.js';
import type { CliContext, Command } from './context.js';
import { withExistingStore } from './open-existing-store.js';

interface Finding {
  readonly what: string;
  readonly action: string;
  readonly ok: boolean;
}

export const doctorCommand: Command = async (cli, args) => {
  const dry = takeFlag(args, '--dry-run');
  rejectLeftovers(dry.rest, 'doctor');
  return withExistingStore(cli, async (store) => {
    const { findings, notes } = await examine(store, cli.dbPath, dry.present);
    report(cli, findings, notes, dry.present);
    // --dry-run is for monitoring: anything to clean is exit 1 (a live run, a note, is not).
    if (dry.present) return findings.some((finding) => finding.action.startsWith('would ')) ? 1 : 0;
    return findings.every((finding) => finding.ok) ? 0 : 1;
  });
};

async function examine(store: Store, stateDatabase: string, dryRun: boolean): Promise<{ findings: Finding[]; notes: string[] }> {
  const findings: Finding[] = [];
  // What doctor saw and rightly left alone (a run still going): said, not counted as a finding.
  const notes: string[] = [];
  // `action` is what doctor does, in the imperative ("remove it"): "would …" in a dry run, "… : done" after.
  const act = async (what: string, action: string, work: () => Promise<unknown>) => {
    if (dryRun) return findings.push({ what, action: `would ${action}`, ok: true });
    try {
      await work();
      findings.push({ what, action: `${action}: done`, ok: true });
    } catch (error) {
      findings.push({ what, action: `could not ${action}: ${(error as Error).message}`, ok: false });
    }
  };
  const here = hostname();
  const isDead = (run: Run) => run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
  const running = await store.runningRuns();
  const deadRuns = new Set(running.filter(isDead).map((run) => run.id));
  const liveRuns = new Set(running.filter((run) => !deadRuns.has(run.id)).map((run) => run.id));
  // A run that started after `running` was read is alive too: ask again before touching its things.
  const isLive = async (runId: string): Promise<boolean> => {
    if (deadRuns.has(runId)) return false;
    if (liveRuns.has(runId)) return true;
    if ((await store.getRun(runId))?.status !== 'running') return false;
    liveRuns.add(runId);
    return true;
  };

  // Processes: those of any run that is not alive any more.
  for (const record of await store.allProcesses()) {
    if (await isLive(record.runId)) continue;
    const label = `${record.kind} pid ${record.pid} of run ${record.runId}`;
    if (isProcessAlive(record.pid, record.startTicks)) {
      await act(label, 'stop it', async () => {
        await terminateProcess(record.pid, { startTicks: record.startTicks });
        await store.forgetProcess(record.pid, record.startTicks);
      });
    } else {
      await act(`${label} (already gone)`, 'forget its record', () => store.forgetProcess(record.pid, record.startTicks));
    }
  }

  // Processes a dead run started but had not recorded yet (killed between spawn and record):
  // found by the owner tag every child of sendense-run carries, never by name.
  for (const orphan of orphansOf(stateDatabase)) {
    await act(`${orphan.command} pid ${orphan.pid} started by sendense-run pid ${orphan.ownerPid}, which is gone`, 'stop it', () =>
      terminateProcess(orphan.pid, { startTicks: orphan.startTicks }),
    );
  }

  // Leases: held by runs that are not alive (the run's process is gone).
  for (const lease of await store.listLeases()) {
    if (await isLive(lease.runId)) continue;
    if (lease.hostname === here && isProcessAlive(lease.pid)) continue;
    await act(`port ${lease.port} leased by run ${lease.runId} (pid ${lease.pid} gone)`, 'release it', () => store.releasePort(lease.port));
  }

  // Retention merges a dead run left: finished or rolled back (their qemu-nbd was stopped above).
  await resumeInterruptedMerges(store, isLive, act);

  // Backups that never completed: their files go; records stay, as failed.
  const local = createLocalNode();
  for (const backup of await store.incompleteBackups()) {
    if (await isLive(backup.runId)) continue;
    // Completed since it was read (its run finished meanwhile): its files are a backup now.
    if ((await store.getBackup(backup.id))?.status === 'complete') continue;
    for (const disk of backup.disks) {
      if (!existsSync(disk.file)) {
        for (const temp of await manifestTemps(disk.file)) {
          await act(`unfinished manifest ${temp} (backup ${backup.id}, ${backup.status})`, 'delete it', () => rm(temp, { force: true }));
        }
      }
      if (existsSync(disk.file)) {
        await act(`half-written file ${disk.file} (backup ${backup.id}, ${backup.status})`, 'delete it', async () => {
          await rm(disk.file, { force: true });
          await rm(manifestPath(disk.file), { force: true });
          for (const temp of await manifestTemps(disk.file)) await rm(temp, { force: true });
          // The disk's and the VM's directories go too when nothing else is in them.
          await removeEmptyDirs([path.dirname(disk.file), path.dirname(path.dirname(disk.file))]);
        });
      }
      // A remote node's bitmaps are not reachable from here: say what to do when its run died.
      if (disk.bitmap !== null && disk.sourceNode !== local.id && deadRuns.has(backup.runId)) {
        findings.push({
          what: `bitmap ${disk.bitmap} on ${disk.source} at ${disk.sourceNode} (backup ${backup.id})`,
          action: `left alone (remote node): remove it there with qemu-img bitmap --remove ${disk.source} ${disk.bitmap}`,
          ok: true,
        });
      }
    }
    if (backup.status === 'running') await act(`backup ${backup.id} left running`, 'mark it failed', () => store.failBackup(backup.id));
  }
  await removeStaleManifestTemps(store, act);
  await removeOrphanBitmaps(store, isLive, local, act);
  await cleanStaleMounts(store, act, (what, action) => findings.push({ what, action, ok: true }));

  // Files a dead run was writing outside the repository (a restore target before its rename).
  for (const file of await store.allRunFiles()) {
    if (await isLive(file.runId)) continue;
    if (file.node !== local.id) {
      await act(`unfinished ${file.kind} ${file.path} on ${file.node} (run ${file.runId})`, `forget it (remote node: remove it there with rm -f -- ${file.path})`, () =>
        store.forgetRunFile(file.node, file.path),
      );
      continue;
    }
    await act(`unfinished ${file.kind} ${file.path} (run ${file.runId})`, 'delete it', async () => {
      await rm(file.path, { force: true });
      await store.forgetRunFile(file.node, file.path);
    });
  }

  // VM locks of runs that are not alive: the next backup of that VM would take them over anyway.
  for (const lock of await store.listVmLocks()) {
    if (await isLive(lock.runId)) continue;
    await act(`lock of VM ${lock.vm} held by run ${lock.runId} (pid ${lock.pid} gone)`, 'release it', () => store.unlockVm(lock.vm, lock.runId));
  }

  // Hub disk slots (held or queued) of runs that are not alive: the next run would take them back anyway.
  for (const slot of await store.listSlots()) {
    if (await isLive(slot.runId)) continue;
    const what = slot.granted > 0 ? `${slot.granted} disk slot(s) held` : 'a place in the disk queue';
    await act(`${what} by run ${slot.runId} of plan ${slot.plan} (pid ${slot.pid} gone)`, 'release it', () => store.releaseSlots(slot.runId));
  }

  for (const run of running.filter((r) => deadRuns.has(r.id))) {
    // Killed, or it lost the state database and could not record its end: either way it is over.
    await act(`run ${run.id} of plan ${run.plan} (pid ${run.pid} died)`, 'mark it failed', () =>
      store.finishRun(run.id, 'failed', `the run's process (pid ${run.pid}) ended without recording its end (killed, or it lost the state database); cleaned up by doctor`),
    );
  }
  for (const id of liveRuns) notes.push(`run ${id} is still running: left alone`);
  return { findings, notes };
}

// The temp files writeManifest makes beside a disk file's manifest (`.<name>.json.<pid>.tmp`,
// renamed over the manifest once written): a run killed between the two leaves one.
async function manifestTemps(diskFile: string): Promise<string[]> {
  const dir = path.dirname(diskFile);
  const prefix = `.${path.basename(manifestPath(diskFile))}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.startsWith(prefix) && /^\d+\.tmp$/.test(name.slice(prefix.length))).map((name) => path.join(dir, name));
}

// Manifest temp files beside kept backups (`.<id>.json.<pid>.tmp`, `.<id>.json.merge.<pid>.tmp`):
// a merge or a run killed between writing a manifest and renaming it leaves one. Only when its
// writer is gone and it is a minute old: a writer on this host renames its temp within moments.
const TEMP_MIN_AGE_MS = 60_000;
async function removeStaleManifestTemps(store: Store, act: (what: string, action: string, work: () => Promise<unknown>) => Promise<unknown>): Promise<void> {
  const dirs = new Set<string>();
  for (const backup of await store.listBackups()) for (const disk of backup.disks) dirs.add(path.dirname(disk.file));
  for (const dir of [...dirs].sort()) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const temp = /^\..+\.json(?:\.merge)?\.(\d+)\.tmp$/.exec(name);
      if (temp === null || isProcessAlive(Number(temp[1]))) continue;
      const file = path.join(dir, name);
      const age = await stat(file).then((info) => Date.now() - info.mtimeMs, () => 0);
      if (age < TEMP_MIN_AGE_MS) continue;
      await act(`unfinished manifest ${file} (its writer, pid ${temp[1]}, is gone)`, 'delete it', () => rm(file, { force: true }));
    }
  }
}

// Bitmaps this state database added on sources of this host that no chain will start from: not
// the change_id of the newest complete backup of its repository, not of a run still going. A
// crash between "complete" and removing the superseded bitmap, or a failed run's cleanup that
// never ran, leaves them recording every write of the VM for nothing.
async function removeOrphanBitmaps(
  store: Store,
  isLive: (runId: string) => Promise<boolean>,
  local: NodeHost,
  act: (what: string, action: string, work: () => Promise<unknown>) => Promise<unknown>,
): Promise<void> {
  const exec = (argv: readonly string[]) => local.exec(argv);
  const backups = await store.listBackups();
  const newest = new Map<string, Backup>();
  for (const backup of backups) if (backup.status === 'complete') newest.set(`${backup.vm}\0${backup.repository}`, backup);
  const needed = new Set<string>();
  const recorded = new Map<string, Set<string>>();
  for (const backup of newest.values()) for (const disk of backup.disks) if (disk.changeId) needed.add(`${disk.source}\0${disk.changeId}`);
  for (const backup of backups) {
    for (const disk of backup.disks) {
      if (disk.bitmap === null || disk.sourceNode !== local.id) continue;
      if (await isLive(backup.runId)) needed.add(`${disk.source}\0${disk.bitmap}`);
      recorded.set(disk.source, (recorded.get(disk.source) ?? new Set()).add(disk.bitmap));
    }
  }
  for (const [source, names] of recorded) {
    if (!existsSync(source)) continue;
    // A source in use (its VM running) cannot be read or changed now: leave it for the next doctor.
    const present = await listBitmaps(source, exec).catch(() => []);
    for (const bitmap of present) {
      if (!names.has(bitmap.name) || needed.has(`${source}\0${bitmap.name}`)) continue;
      await act(`orphan bitmap ${bitmap.name} on ${source}`, 'remove it', () => bitmapRemove(source, bitmap.name, exec));
    }
  }
}

function report(cli: CliContext, findings: readonly Finding[], notes: readonly string[], dryRun: boolean): void {
  if (cli.json) {
    for (const finding of findings) cli.stdout.write(`${JSON.stringify(finding)}\n`);
    for (const note of notes) cli.stdout.write(`${JSON.stringify({ type: 'note', message: note })}\n`);
    return;
  }
  for (const note of notes) cli.stdout.write(`  ${note}\n`);
  if (findings.length === 0) {
    cli.stdout.write('doctor: nothing left behind\n');
    return;
  }
  for (const finding of findings) cli.stdout.write(`${finding.ok ? '-' : '!'} ${finding.what}: ${finding.action}\n`);
  const fixed = findings.filter((f) => f.ok).length;
  cli.stdout.write(`doctor: ${findings.length} finding(s)${dryRun ? ' (dry run: nothing changed)' : `, ${fixed} cleaned`}\n`);
}
