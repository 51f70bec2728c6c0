// A libvirt backup job in pull mode (https://libvirt.org/formatbackup.html): the domain's disks at
// one instant, exported over NBD on a unix socket in the run's scratch directory, while the guest
// keeps writing (copy-before-write into scratch files beside it).

import { DOMParser } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import type { ExecResult } from '../node/node.js';
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

// `virsh domjobinfo`'s answer: any job of the domain (a backup, a migration, another tool's; libvirt
// runs one at a time) by its operation (or type), undefined for none.
export function jobOf(result: ExecResult): string | undefined {
  if (result.exitCode !== 0) return undefined;
  const type = /^Job type:\s*(\S+)/m.exec(result.stdout)?.[1];
  if (type === undefined || type === 'None') return undefined;
  return /^Operation:\s*(.+?)\s*$/m.exec(result.stdout)?.[1] ?? type;
}

// The job this process saw end last, per domain: the cleanup that ends it after a superseded
// checkpoint's removal did need not ask libvirt again. A job begun since is not ended.
const endedJobs = new Map<string, string>();
const jobKey = (virsh: Virsh, domain: string) => `${virsh.uri}\n${domain}`;

// `checkpointFile`: the new checkpoint, taken at the same instant (none when no disk can carry one).
export async function beginBackup(
  virsh: Virsh,
  domain: string,
  backupFile: string,
  checkpointFile?: string,
): Promise<void> {
  endedJobs.delete(jobKey(virsh, domain));
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
// domjobabort returns before the job is gone (QEMU cancels it, then libvirt ends it): asked again
// soon, and aborted again only if it is still there after this long.
const ABORTED_RETRY_MS = 25;
const ABORT_AGAIN_MS = 2_000;

// Ending a pull-mode job is aborting it (libvirt keeps the checkpoint); a job already gone, or
// another's (another socket), is left. Asked until libvirt says there is none: a question that
// failed (libvirtd busy under load) is no answer, and a job left running refuses the domain's next
// backup or sync ("already has a job running").
export async function endBackupJob(virsh: Virsh, domain: string, socket: string): Promise<void> {
  const key = jobKey(virsh, domain);
  if (endedJobs.get(key) === socket) return;
  const deadline = Date.now() + END_JOB_TIMEOUT_MS;
  let abortedAt: number | undefined;
  for (;;) {
    const asked = await virsh.attempt(['backup-dumpxml', domain]);
    let why: string;
    if (asked.exitCode === 0) {
      const job = parseBackupJob(asked.stdout);
      if (job === undefined || job.socket !== socket) {
        endedJobs.set(key, socket);
        return;
      }
      if (abortedAt !== undefined && Date.now() - abortedAt < ABORT_AGAIN_MS) {
        why = 'it was still there after domjobabort';
      } else {
        const aborted = await virsh.attempt(['domjobabort', domain]);
        // Asked again at once: the job is often gone when domjobabort returns.
        if (aborted.exitCode === 0) {
          abortedAt = Date.now();
          continue;
        }
        why = virshMessage(aborted);
      }
    } else {
      why = virshMessage(asked);
      if (NO_BACKUP_JOB.test(why)) {
        endedJobs.set(key, socket);
        return;
      }
    }
    if (Date.now() >= deadline) throw new SendenseError(`could not end the backup job of domain ${domain}: ${why}`);
    const settling = abortedAt !== undefined && Date.now() - abortedAt < ABORT_AGAIN_MS;
    await new Promise((resolve) => setTimeout(resolve, settling ? ABORTED_RETRY_MS : END_JOB_RETRY_MS));
  }
}
