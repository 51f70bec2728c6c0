// `sendense-run PLAN.yaml --dry-run`: the steps a run would take, resolved as far as possible
// without changing anything: the state database is only read (and not created), source images
// on this host are only inspected, a remote node is not contacted.

import { existsSync } from 'node:fs';
import { BACKUP_STEPS, RESTORE_STEPS } from '../engine/step-names.js';
import { createLocalNode } from '../node/local.js';
import { loadPlanForRun } from '../plan/load.js';
import { isFilesRestore, type BackupPlan, type DiskRestorePlan, type FilesRestorePlan, type Plan } from '../plan/types.js';
import { backupFile, bitmapName, exportName, nbdTargetsString } from '../repository/layout.js';
import { decideChain, type SourceDiskFacts } from '../steps/chain-decision.js';
import { inspectSourceDisk } from '../steps/inspect-source.js';
import { openStore, type Backup, type Store } from '../store/index.js';
import type { CliContext } from './context.js';
import { isSendenseError } from '../errors.js';

interface PlannedStep {
  readonly step: string;
  readonly does: string;
}

export async function dryRunCommand(cli: CliContext, file: string): Promise<number> {
  const plan = await loadPlanForRun(file, process.env);
  const store = existsSync(cli.dbPath) ? await openStore(cli.dbPath) : undefined;
  try {
    const steps =
      plan.kind === 'restore'
        ? isFilesRestore(plan)
          ? describeFilesRestore(plan)
          : await describeRestore(plan as DiskRestorePlan, store)
        : plan.kind === 'verify'
          ? [{ step: 'verify-backups', does: `check the backups of ${plan.verify.vm ?? 'every VM'} in ${plan.repository.path} against their manifests${plan.verify.outdatedAfter === undefined ? '' : ` (those not verified in the last ${plan.verify.outdatedAfter / 86_400_000} day(s))`}` }]
          : await describeBackup(plan, store);
    if (cli.json) {
      cli.stdout.write(`${JSON.stringify({ plan: plan.name, kind: plan.kind, file: plan.origin.file, steps })}\n`);
      return 0;
    }
    cli.stdout.write(`dry run of ${plan.kind} plan ${plan.name} (${plan.origin.file}); nothing is changed\n`);
    const width = Math.max(...steps.map((s) => s.step.length));
    steps.forEach((s, index) => {
      const [first, ...rest] = s.does.split('\n');
      cli.stdout.write(`${String(index + 1).padStart(2)}. ${s.step.padEnd(width)}  ${first}\n`);
      for (const line of rest) cli.stdout.write(`    ${' '.repeat(width)}  ${line}\n`);
    });
    return 0;
  } finally {
    await store?.close();
  }
}

async function describeBackup(plan: BackupPlan, store: Store | undefined): Promise<PlannedStep[]> {
  const node = plan.node ? `${plan.node.user}@${plan.node.host}:${plan.node.port}` : 'this host';
  const previous = store ? await store.latestCompleteBackup(plan.vm.name, plan.repository.path) : undefined;
  const chainLength = previous && store ? await store.chainLength(previous.chainId) : 0;
  const facts = plan.node ? undefined : await inspectLocally(plan);
  const newId = '<new-backup-id>';
  let chain: string;
  let incremental = false;
  if (facts !== undefined && 'error' in facts) {
    // The run's resolve-chain would stop on the same error: say so whatever the kind.
    chain = `would FAIL: ${facts.error}`;
  } else if (facts === undefined || 'notInspected' in facts) {
    incremental = plan.kind === 'incremental' && previous !== undefined;
    const why = facts?.notInspected ?? 'the remote node is not contacted in a dry run';
    chain = incremental
      ? `incremental on backup ${previous!.id} if its change tracking is intact (${why})`
      : `full backup into a new chain${previous ? '' : ' (no complete backup yet)'}`;
  } else {
    const decision = decideChain(plan, previous, chainLength, facts.disks, existsSync);
    incremental = decision.type === 'incremental';
    chain =
      decision.type === 'fail'
        ? `would FAIL: ${decision.reason}`
        : decision.type === 'incremental'
          ? `incremental on backup ${previous!.id} (chain ${previous!.chainId}, ${chainLength + 1}${Number.isFinite(plan.incremental.maxChainLength) ? ` of at most ${plan.incremental.maxChainLength}` : ', no limit'})`
          : `full backup into a new chain${decision.warning ? `: ${decision.warning}` : decision.note ? `: ${decision.note}` : ''}`;
  }
  const chainId = incremental ? previous!.chainId : newId;
  const keys = plan.vm.source.disks.map((disk) => disk.key);
  const parentOf = (key: number) => previous?.disks.find((d) => d.diskKey === key);
  const files = keys
    .map((key) => {
      const file = backupFile(plan.repository.path, plan.vm.name, key, newId);
      return incremental ? `${file} (overlay on ${parentOf(key)?.file})` : file;
    })
    .join('\n');
  const { first, last } = plan.nbd.ports;
  const targets = nbdTargetsString(keys.map((key, i) => ({ key, url: `nbd://127.0.0.1:<port ${i + 1}>/${exportName(plan.vm.name, key)}` })));
  const sourceLines = plan.vm.source.disks
    .map((disk) => {
      const from = 'path' in disk ? disk.path : 'url' in disk ? disk.url : `${plan.vm.name} via sendense-backup-client`;
      // nbd: the export's own bitmap named in the plan; qemu: the parent backup's bitmap.
      const tracked = 'bitmap' in disk && disk.bitmap ? `qemu:dirty-bitmap:${disk.bitmap} of the export` : parentOf(disk.key)?.changeId;
      const bitmap = incremental && tracked ? `, dirty bitmap ${tracked}` : '';
      return `disk ${disk.key}: ${from}${bitmap}`;
    })
    .join('\n');
  const does: Record<(typeof BACKUP_STEPS)[number], string> = {
    'resolve-chain': `${chain}\nnew backup id decided at run time; node: ${node}`,
    'allocate-ports': `${keys.length} port(s) from ${first}-${last}, leased in ${store ? 'the state database' : 'a new state database'}`,
    'create-qcow2': files,
    'start-qemu-nbd': `qemu-nbd -f qcow2 --shared=${plan.nbd.shared} -b 127.0.0.1 on each leased port, one per disk`,
    'open-tunnel': plan.node ? `SSH to ${node} (host key checked against ${plan.node.knownHosts}), forward the leased ports` : 'nothing to do (the node is this host)',
    'snapshot-source':
      plan.vm.source.type === 'qemu'
        ? facts && 'disks' in facts && facts.disks.every((disk) => disk.canStoreBitmaps === false || (disk.source.type === 'qemu' && disk.source.format === 'raw'))
          ? 'nothing (raw disks and qcow2 v2 images have no bitmaps)'
          : `add bitmap ${bitmapName(chainId, newId)} to every qcow2 disk`
        : plan.vm.source.type === 'vmware'
          ? 'the VMware client snapshots the VM'
          : 'nothing (nbd source)',
    transfer: `node transfer on ${node}: ${incremental ? 'changed blocks' : 'allocated data'}\n${sourceLines}\n--nbd-targets ${targets}`,
    'record-change-ids': 'mark the backup complete with each disk\'s change_id and bytes',
    cleanup: 'stop qemu-nbd, close the tunnel, release the ports; on failure delete the new files and bitmaps',
    retention: !plan.retention
      ? 'no retention block: nothing'
      : plan.retention.keepChains !== undefined
        ? `keep the newest ${plan.retention.keepChains} chain(s) of each disk`
        : `keep the points the keep-* rules keep, merge the others away (see sendense-run prune --dry-run)`,
  };
  return BACKUP_STEPS.map((step) => ({ step, does: does[step] }));
}

function describeFilesRestore(plan: FilesRestorePlan): PlannedStep[] {
  const { point, disks, target } = plan.restore;
  const pointText = point.type === 'latest' ? 'latest' : point.type === 'id' ? point.id : point.time.toISOString();
  return [
    { step: 'resolve-point', does: `point ${pointText} of VM ${plan.vm.name}, disk ${disks?.[0] ?? '(the first)'}` },
    {
      step: 'extract-files',
      does: `${target.paths.join(', ')} into ${target.to}${target.overwrite ? ' (overwrite)' : ''}${plan.node ? ` on ${plan.node.user}@${plan.node.host}:${plan.node.port} (streamed through SSH)` : ''}, read through a libguestfs appliance on this host`,
    },
  ];
}

async function describeRestore(plan: DiskRestorePlan, store: Store | undefined): Promise<PlannedStep[]> {
  const node = plan.node ? `${plan.node.user}@${plan.node.host}:${plan.node.port}` : 'this host';
  const point = plan.restore.point;
  let backup: Backup | undefined;
  if (store) {
    if (point.type === 'latest') backup = await store.latestCompleteBackup(plan.vm.name, plan.repository.path);
    else if (point.type === 'id') {
      // Another VM's backup id is refused by the run: the dry run says so too.
      const found = await store.getBackup(point.id);
      backup = found?.vm === plan.vm.name ? found : undefined;
    }
    else backup = await store.completeBackupAtOrBefore(plan.vm.name, point.time, plan.repository.path);
  }
  const pointText = point.type === 'latest' ? 'latest' : point.type === 'id' ? point.id : point.time.toISOString();
  const keys = plan.restore.disks ?? backup?.disks.map((d) => d.diskKey) ?? [];
  const target = plan.restore.target;
  const targetOf = (key: number) => (target.type === 'file' ? target.path : target.url).replaceAll('{key}', String(key));
  const does: Record<(typeof RESTORE_STEPS)[number], string> = {
    // The run restores complete backups only: anything else is shown as the failure it would be.
    'resolve-point':
      backup?.status === 'complete'
        ? `point ${pointText}: backup ${backup.id} (${backup.type}, ${backup.status}, ${backup.startedAt})`
        : `point ${pointText}: would FAIL: ${
            backup ? `backup ${backup.id} is ${backup.status}, not complete` : store ? 'no matching complete backup in the state database' : 'no state database yet'
          }`,
    'allocate-ports': `${keys.length || 'one per'} port(s) from ${plan.nbd.ports.first}-${plan.nbd.ports.last}`,
    'start-qemu-nbd': `qemu-nbd -r (read-only) on ${
      backup ? backup.disks.filter((d) => keys.includes(d.diskKey)).map((d) => d.file).join(', ') : 'the backup files'
    }`,
    'open-tunnel': plan.node ? `SSH to ${node}, forward the leased ports` : 'nothing to do (the node is this host)',
    'prepare-target':
      target.type === 'file'
        ? `${keys.map(targetOf).join(', ') || target.path} (${target.format}${target.overwrite ? ', replaced on success' : ', must not exist'}, mode ${target.mode.toString(8).padStart(4, '0')}) on ${node}, written beside it first`
        : `NBD targets ${keys.map(targetOf).join(', ') || target.url}`,
    transfer: `node transfer on ${node}: allocated data of ${keys.length ? keys.map((k) => `disk ${k}`).join(', ') : 'every disk'}`,
    verify: plan.restore.verify ? 'compare each restored disk with the backup chain' : 'off (verify: false)',
    'place-target': target.type === 'file' ? 'rename each restored file into place' : 'nothing (NBD targets are written in place)',
    cleanup: 'stop qemu-nbd, close the tunnel, release the ports',
  };
  return RESTORE_STEPS.map((step) => ({ step, does: does[step] }));
}

async function inspectLocally(plan: BackupPlan): Promise<{ disks: SourceDiskFacts[] } | { error: string } | { notInspected: string }> {
  const source = plan.vm.source;
  if (source.type !== 'qemu') return { notInspected: `${source.type} sources are inspected at run time` };
  const node = createLocalNode();
  const exec = (argv: readonly string[]) => node.exec(argv);
  try {
    const disks: SourceDiskFacts[] = [];
    for (const disk of source.disks) disks.push(await inspectSourceDisk(exec, source, disk.key));
    return { disks };
  } catch (error) {
    return { error: isSendenseError(error) ? error.describe() : (error as Error).message };
  }
}
