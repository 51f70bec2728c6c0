// libvirt block copy (https://libvirt.org/kbase/live_full_disk_backup.html, `virsh blockcopy`):
// a running domain's disk copied, whole chain flattened, into a new file while the guest writes;
// once the copy is ready (it mirrors every new write), a pivot switches the disk over to it.

import { DOMParser } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import { children, firstChild } from './domain-xml.js';
import { virshMessage, type Virsh } from './virsh.js';

export interface CopyProgress {
  readonly target: string;
  readonly bytesDone: number;
  readonly bytesToDo: number;
}

// Starts the copy of one disk into `destination` (created by libvirt, labelled for QEMU); it runs in QEMU, not in us.
export async function startBlockCopy(
  virsh: Virsh,
  domain: string,
  target: string,
  destination: string,
  bytesPerSecond?: number,
): Promise<void> {
  const limit =
    bytesPerSecond === undefined ? [] : ['--bandwidth', String(Math.max(1, Math.floor(bytesPerSecond))), '--bytes'];
  await virsh.run(
    ['blockcopy', domain, target, destination, '--format', 'qcow2', '--transient-job', ...limit],
    `start copying disk ${target} of domain ${domain} to ${destination}`,
  );
}

// The copy job of a disk: done and to-do bytes, or undefined when the disk has none (never started, aborted, pivoted, failed).
export async function blockCopyProgress(
  virsh: Virsh,
  domain: string,
  target: string,
): Promise<CopyProgress | undefined> {
  const result = await virsh.attempt(['blockjob', domain, target, '--raw']);
  if (result.exitCode !== 0)
    throw new SendenseError(`read the copy job of disk ${target} of domain ${domain}: ${virshMessage(result)}`);
  const done = /\bcur=(\d+)/.exec(result.stdout);
  const toDo = /\bend=(\d+)/.exec(result.stdout);
  if (done === null || toDo === null || !/type=Block Copy/i.test(result.stdout)) return undefined;
  return { target, bytesDone: Number(done[1]), bytesToDo: Number(toDo[1]) };
}

// Targets whose copy is ready to pivot, and where each mirrors to, from the live XML.
export async function mirrors(
  virsh: Virsh,
  domain: string,
): Promise<ReadonlyMap<string, { readonly file: string; readonly ready: boolean }>> {
  const xml = await virsh.run(['dumpxml', domain], `read the XML of domain ${domain}`);
  const found = new Map<string, { file: string; ready: boolean }>();
  const root = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml').documentElement;
  const devices = root === null ? undefined : firstChild(root, 'devices');
  for (const disk of devices === undefined ? [] : children(devices, 'disk')) {
    const mirror = firstChild(disk, 'mirror');
    const target = firstChild(disk, 'target')?.getAttribute('dev');
    if (mirror === undefined || !target) continue;
    const file = mirror.getAttribute('file') || firstChild(mirror, 'source')?.getAttribute('file') || '';
    found.set(target, { file, ready: mirror.getAttribute('ready') === 'yes' });
  }
  return found;
}

// Waits for the domain's next block job event (a copy ready, ended or failed) or `seconds`; false when virsh could not wait.
export async function awaitBlockJobEvent(virsh: Virsh, domain: string, seconds: number): Promise<boolean> {
  const result = await virsh.attempt([
    'event',
    '--domain',
    domain,
    '--event',
    'block-job-2',
    '--timeout',
    String(Math.max(1, Math.ceil(seconds))),
  ]);
  // virsh exits 1 on its timeout ("event loop timed out"), as on an error.
  return result.exitCode === 0 || /timed out/i.test(result.stdout);
}

// Switches the disk over to its copy: from now on the guest reads and writes only the copy.
export async function pivotBlockCopy(virsh: Virsh, domain: string, target: string): Promise<void> {
  await virsh.run(
    ['blockjob', domain, target, '--pivot'],
    `switch disk ${target} of domain ${domain} over to its copy`,
  );
}

// Ends a copy without switching over (the disk stays where it was); a disk with no job is fine.
export async function abortBlockCopy(virsh: Virsh, domain: string, target: string): Promise<void> {
  const result = await virsh.attempt(['blockjob', domain, target, '--abort']);
  if (result.exitCode !== 0 && !/no current block job|no active block job/i.test(result.stderr)) {
    throw new SendenseError(`stop the copy job of disk ${target} of domain ${domain}: ${virshMessage(result)}`);
  }
}
