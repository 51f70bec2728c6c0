// A libvirt backup job in pull mode (https://libvirt.org/formatbackup.html): the domain's disks at
// one instant, exported over NBD on a unix socket in the run's scratch directory, while the guest
// keeps writing (copy-before-write into scratch files beside it).

import { DOMParser } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import { children, firstChild } from './domain-xml.js';
import { virshMessage, xmlText, type Virsh } from './virsh.js';

export interface BackupJobDisk {
  readonly target: string;
  /** QEMU's copy-before-write file for this disk, in the scratch directory. */
  readonly scratch: string;
}

export function backupXml(
  socket: string,
  disks: readonly BackupJobDisk[],
  others: readonly string[],
  incrementalFrom?: string,
): string {
  const incremental = incrementalFrom === undefined ? '' : `<incremental>${xmlText(incrementalFrom)}</incremental>`;
  const backedUp = disks.map(
    (disk) =>
      `<disk name='${xmlText(disk.target)}' backup='yes' type='file'><scratch file='${xmlText(disk.scratch)}'/></disk>`,
  );
  const skipped = others.map((target) => `<disk name='${xmlText(target)}' backup='no'/>`);
  return `<domainbackup mode='pull'>${incremental}<server transport='unix' socket='${xmlText(socket)}'/><disks>${[...backedUp, ...skipped].join('')}</disks></domainbackup>\n`;
}

/** The export of one disk, as libvirt names it: the NBD export and, for an incremental, the dirty-bitmap context. */
export interface JobExport {
  readonly target: string;
  readonly exportName: string;
  readonly exportBitmap?: string;
}

/** The backup job a domain runs now, if any: where it serves and what. */
export interface RunningBackupJob {
  readonly socket?: string;
  readonly exports: readonly JobExport[];
}

// libvirt's names in pull mode: the export is the target, the bitmap "backup-<target>".
export function expectedExport(target: string, incremental: boolean): JobExport {
  return { target, exportName: target, ...(incremental ? { exportBitmap: `backup-${target}` } : {}) };
}

export async function runningBackupJob(virsh: Virsh, domain: string): Promise<RunningBackupJob | undefined> {
  const result = await virsh.attempt(['backup-dumpxml', domain]);
  if (result.exitCode !== 0) return undefined;
  return parseBackupJob(result.stdout);
}

// `virsh backup-dumpxml`'s document: where the job serves and what.
function parseBackupJob(xml: string): RunningBackupJob | undefined {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const root = document.documentElement;
  if (root === null || root.nodeName !== 'domainbackup') return undefined;
  const socket = firstChild(root, 'server')?.getAttribute('socket') ?? undefined;
  const disksElement = firstChild(root, 'disks');
  const exports = (disksElement ? children(disksElement, 'disk') : [])
    .filter((disk) => disk.getAttribute('backup') !== 'no')
    .map((disk) => ({
      target: disk.getAttribute('name') ?? '',
      exportName: disk.getAttribute('exportname') ?? '',
      exportBitmap: disk.getAttribute('exportbitmap') || undefined,
    }));
  return { socket, exports };
}

// Any job of the domain (a backup, a migration, another tool's): libvirt runs one at a time.
export async function activeJob(virsh: Virsh, domain: string): Promise<string | undefined> {
  const result = await virsh.attempt(['domjobinfo', domain]);
  if (result.exitCode !== 0) return undefined;
  const type = /^Job type:\s*(\S+)/m.exec(result.stdout)?.[1];
  if (type === undefined || type === 'None') return undefined;
  return /^Operation:\s*(.+?)\s*$/m.exec(result.stdout)?.[1] ?? type;
}

// `checkpointFile`: the new checkpoint, taken at the same instant (none when no disk can carry one).
export async function beginBackup(
  virsh: Virsh,
  domain: string,
  backupFile: string,
  checkpointFile?: string,
): Promise<void> {
  const result = await virsh.attempt([
    'backup-begin',
    domain,
    backupFile,
    ...(checkpointFile === undefined ? [] : [checkpointFile]),
  ]);
  if (result.exitCode === 0) return;
  const message = virshMessage(result);
  if (/Failed to bind socket|Permission denied/i.test(message)) {
    throw new SendenseError(
      `libvirt could not start the backup job of ${domain}: the hypervisor's user cannot write the scratch directory (${message})`,
    );
  }
  throw new SendenseError(`libvirt could not start the backup job of ${domain}: ${message}`);
}

// What libvirt says when a domain has no backup job: none present, the domain shut off or gone.
const NO_BACKUP_JOB = /no domain backup job present|domain is not running|failed to get domain|Domain not found/i;
const END_JOB_TIMEOUT_MS = 30_000;
const END_JOB_RETRY_MS = 250;

// Ending a pull-mode job is aborting it (libvirt keeps the checkpoint); a job already gone, or
// another's (another socket), is left. Asked until libvirt says there is none: a question that
// failed (libvirtd busy under load) is no answer, and a job left running refuses the domain's next
// backup or sync ("already has a job running").
export async function endBackupJob(virsh: Virsh, domain: string, socket: string): Promise<void> {
  const deadline = Date.now() + END_JOB_TIMEOUT_MS;
  let abortedOnce = false;
  for (;;) {
    const asked = await virsh.attempt(['backup-dumpxml', domain]);
    let why: string;
    if (asked.exitCode === 0) {
      const job = parseBackupJob(asked.stdout);
      if (job === undefined || job.socket !== socket) return;
      const aborted = await virsh.attempt(['domjobabort', domain]);
      // Asked again at once: the job is normally gone when domjobabort returns.
      if (aborted.exitCode === 0 && !abortedOnce) {
        abortedOnce = true;
        continue;
      }
      why = aborted.exitCode === 0 ? 'it was still there after domjobabort' : virshMessage(aborted);
    } else {
      why = virshMessage(asked);
      if (NO_BACKUP_JOB.test(why)) return;
    }
    if (Date.now() >= deadline) throw new SendenseError(`could not end the backup job of domain ${domain}: ${why}`);
    await new Promise((resolve) => setTimeout(resolve, END_JOB_RETRY_MS));
  }
}
