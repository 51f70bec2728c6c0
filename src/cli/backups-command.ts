// `sendense-run backups [--vm NAME]`: backups grouped by VM and chain, with change_ids, sizes,
// status and whether each can be restored (complete, every file of its chain present and readable).

import type { Backup } from '../store/index.js';
import { formatBytes } from '../format/bytes.js';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { rejectLeftovers, takeOption } from './args.js';
import type { Command } from './context.js';
import { withExistingStore } from './open-existing-store.js';

export const backupsCommand: Command = async (cli, args) => {
  const vm = takeOption(args, '--vm');
  rejectLeftovers(vm.rest, 'backups');
  return withExistingStore(cli, async (store) => {
    const backups = await store.listBackups({ vm: vm.value });
    const byId = new Map(backups.map((backup) => [backup.id, backup]));
    const rows = backups.map((backup) => ({ backup, restorable: restorability(backup, byId) }));
    if (cli.json) {
      for (const { backup, restorable } of rows) {
        cli.stdout.write(`${JSON.stringify({ ...backup, restorable: restorable === undefined, notRestorableBecause: restorable })}\n`);
      }
      return 0;
    }
    if (rows.length === 0) {
      cli.stdout.write(vm.value ? `no backups of VM ${vm.value}\n` : 'no backups yet\n');
      return 0;
    }
    let lastGroup = '';
    let lastChain = '';
    for (const { backup, restorable } of rows.sort(byVmChainTime)) {
      const group = `VM ${backup.vm}  repository ${backup.repository}`;
      if (group !== lastGroup) {
        cli.stdout.write(`${lastGroup ? '\n' : ''}${group}\n`);
        lastGroup = group;
        lastChain = '';
      }
      if (backup.chainId !== lastChain) {
        cli.stdout.write(`  chain ${backup.chainId}\n`);
        lastChain = backup.chainId;
      }
      const size = backup.bytes === null ? '-' : formatBytes(backup.bytes);
      const state = restorable === undefined ? 'restorable' : `not restorable: ${restorable}`;
      const verified = backup.verifiedAt === null ? 'never verified' : `verified ${backup.verifiedAt}`;
      cli.stdout.write(
        `    ${backup.id}  ${backup.type.padEnd(11)} ${backup.status.padEnd(8)} ${backup.startedAt}  ${size.padStart(9)}  ${state}  (${verified})\n`,
      );
      for (const disk of backup.disks) {
        const bytes = disk.bytes === null ? '-' : formatBytes(disk.bytes);
        cli.stdout.write(
          `      disk ${disk.diskKey}: ${formatBytes(disk.virtualSize)} virtual, ${bytes} copied, change_id ${disk.changeId ?? '-'}\n`,
        );
      }
    }
    return 0;
  });
};

// Undefined when restorable, else why not.
function restorability(backup: Backup, byId: ReadonlyMap<string, Backup>): string | undefined {
  for (let current: Backup | undefined = backup; current; current = current.parentId ? byId.get(current.parentId) : undefined) {
    if (current.status === 'damaged' && current === backup) return `damaged (${current.damage ?? 'found by verify'})`;
    if (current.status !== 'complete') return current === backup ? `status ${current.status}` : `parent ${current.id} is ${current.status}`;
    for (const disk of current.disks) {
      // Missing, unreadable or with a destroyed header: one read of 104 bytes per file.
      const problem = qcow2HeaderProblem(disk.file);
      if (problem !== undefined) return problem;
    }
    if (current.parentId && !byId.has(current.parentId)) return `parent ${current.parentId} is not recorded`;
  }
  return undefined;
}

function byVmChainTime(a: { backup: Backup }, b: { backup: Backup }): number {
  return (
    a.backup.vm.localeCompare(b.backup.vm) ||
    a.backup.repository.localeCompare(b.backup.repository) ||
    a.backup.chainId.localeCompare(b.backup.chainId) ||
    a.backup.startedAt.localeCompare(b.backup.startedAt)
  );
}
