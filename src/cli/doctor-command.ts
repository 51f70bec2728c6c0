// `sendense-run doctor [--dry-run]`: find what crashed runs left behind — their qemu-nbd
// processes (by recorded PID and start time, never by name), port leases, half-written backup
// files and the bitmaps they added — and give it back. Runs that are still alive are left alone.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { createLocalNode } from '../node/local.js';
import { bitmapRemove, isProcessAlive, listBitmaps, terminateProcess } from '../qemu/index.js';
import type { Run, Store } from '../store/index.js';
import { usageError } from '../errors.js';
import { rejectUnknownOptions, takeFlag } from './args.js';
import type { CliContext, Command } from './context.js';
import { openExistingStore } from './open-existing-store.js';

interface Finding {
  readonly what: string;
  readonly action: string;
  readonly ok: boolean;
}

export const doctorCommand: Command = async (cli, args) => {
  const dry = takeFlag(args, '--dry-run');
  rejectUnknownOptions(dry.rest, 'doctor');
  if (dry.rest.length > 0) throw usageError(`doctor takes no arguments (got '${dry.rest[0]}')`);
  const store = await openExistingStore(cli);
  if (store === undefined) return 0;
  try {
    const findings = await examine(store, dry.present);
    report(cli, findings, dry.present);
    return findings.every((finding) => finding.ok) ? 0 : 1;
  } finally {
    await store.close();
  }
};

async function examine(store: Store, dryRun: boolean): Promise<Finding[]> {
  const findings: Finding[] = [];
  const act = async (what: string, action: string, work: () => Promise<unknown>) => {
    if (dryRun) return findings.push({ what, action: `would ${action}`, ok: true });
    try {
      await work();
      findings.push({ what, action, ok: true });
    } catch (error) {
      findings.push({ what, action: `could not ${action}: ${(error as Error).message}`, ok: false });
    }
  };
  const here = hostname();
  const isDead = (run: Run) => run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
  const running = await store.runningRuns();
  const deadRuns = new Set(running.filter(isDead).map((run) => run.id));
  const liveRuns = new Set(running.filter((run) => !deadRuns.has(run.id)).map((run) => run.id));

  // Processes: those of any run that is not alive any more.
  for (const record of await store.allProcesses()) {
    if (liveRuns.has(record.runId)) continue;
    const label = `${record.kind} pid ${record.pid} of run ${record.runId}`;
    if (isProcessAlive(record.pid, record.startTicks)) {
      await act(label, 'stopped it', async () => {
        await terminateProcess(record.pid, { startTicks: record.startTicks });
        await store.forgetProcess(record.pid, record.startTicks);
      });
    } else {
      await act(`${label} (already gone)`, 'forgot its record', () => store.forgetProcess(record.pid, record.startTicks));
    }
  }

  // Leases: held by runs that are not alive (the run's process is gone).
  for (const lease of await store.listLeases()) {
    if (liveRuns.has(lease.runId)) continue;
    if (lease.hostname === here && isProcessAlive(lease.pid)) continue;
    await act(`port ${lease.port} leased by run ${lease.runId} (pid ${lease.pid} gone)`, 'released it', () => store.releasePort(lease.port));
  }

  // Backups that never completed: their files and the bitmaps they added go; records stay as failed.
  const local = createLocalNode();
  const exec = (argv: readonly string[]) => local.exec(argv);
  for (const backup of await store.incompleteBackups()) {
    if (liveRuns.has(backup.runId)) continue;
    for (const disk of backup.disks) {
      if (existsSync(disk.file)) {
        await act(`half-written file ${disk.file} (backup ${backup.id}, ${backup.status})`, 'deleted it', () => rm(disk.file, { force: true }));
      }
      if (disk.bitmap === null) continue;
      if (disk.sourceNode !== local.description) {
        findings.push({
          what: `bitmap ${disk.bitmap} on ${disk.source} at ${disk.sourceNode} (backup ${backup.id})`,
          action: `left alone (remote node): remove it there with qemu-img bitmap --remove ${disk.source} ${disk.bitmap}`,
          ok: true,
        });
        continue;
      }
      const present = existsSync(disk.source) && (await listBitmaps(disk.source, exec).catch(() => [])).some((b) => b.name === disk.bitmap);
      if (present) {
        const bitmap = disk.bitmap;
        await act(`orphan bitmap ${bitmap} on ${disk.source} (backup ${backup.id})`, 'removed it', () => bitmapRemove(disk.source, bitmap, exec));
      }
    }
    if (backup.status === 'running') await act(`backup ${backup.id} left running`, 'marked it failed', () => store.failBackup(backup.id));
  }

  for (const run of running.filter((r) => deadRuns.has(r.id))) {
    await act(`run ${run.id} of plan ${run.plan} (pid ${run.pid} died)`, 'marked it failed', () =>
      store.finishRun(run.id, 'failed', `the run's process (pid ${run.pid}) died; cleaned up by doctor`),
    );
  }
  for (const id of liveRuns) findings.push({ what: `run ${id} is still running`, action: 'left alone', ok: true });
  return findings;
}

function report(cli: CliContext, findings: readonly Finding[], dryRun: boolean): void {
  if (cli.json) {
    for (const finding of findings) cli.stdout.write(`${JSON.stringify(finding)}\n`);
    return;
  }
  if (findings.length === 0) {
    cli.stdout.write('doctor: nothing left behind\n');
    return;
  }
  for (const finding of findings) cli.stdout.write(`${finding.ok ? '-' : '!'} ${finding.what}: ${finding.action}\n`);
  const fixed = findings.filter((f) => f.ok).length;
  cli.stdout.write(`doctor: ${findings.length} finding(s)${dryRun ? ' (dry run: nothing changed)' : `, ${fixed} cleaned`}\n`);
}
