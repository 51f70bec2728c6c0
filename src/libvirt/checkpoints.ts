// libvirt checkpoints, the libvirt source's change_id (docs/how-it-works.md#libvirt-domains): each
// is a persistent QEMU bitmap of the same name in every disk it covers. libvirt 9 creates and
// deletes them only on a running domain; for a shut-off one we change the bitmaps in the images
// with qemu-img and tell libvirt with a redefined checkpoint (metadata only).

import { DOMParser } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import { bitmapProblem } from '../qemu/bitmap-health.js';
import { bitmapAdd, bitmapRemove, imageInfo } from '../qemu/index.js';
import { isSendenseBitmap } from '../repository/layout.js';
import { domainIsActive } from './domain.js';
import { firstChild } from './domain-xml.js';
import type { ExecResult } from '../node/node.js';
import type { NodeExec, Virsh } from './virsh.js';
import { virshMessage, xmlText } from './virsh.js';

/** A disk the checkpoint covers: its target and (for a shut-off domain) its image. */
export interface CheckpointDisk {
  readonly target: string;
  readonly path: string;
}

// The <description> only our checkpoints carry: it names the run that made it, so a checkpoint
// deleted and re-created under our name is not taken for ours (docs/how-it-works.md#libvirt-domains).
export function checkpointMarker(runId: string): string {
  return `sendense-run backup, run ${runId}`;
}

// What checkpoints made before the marker named the run say: still ours (no other tool writes it).
const OLD_MARKER = 'sendense-run backup';

// <domaincheckpoint>: a bitmap on the covered disks, explicitly none on every other disk of the domain.
export function checkpointXml(
  name: string,
  runId: string,
  covered: readonly string[],
  others: readonly string[],
  redefine?: { readonly createdAt: number },
): string {
  const disks = [
    ...covered.map(
      (target) =>
        `<disk name='${xmlText(target)}' checkpoint='bitmap'${redefine ? ` bitmap='${xmlText(name)}'` : ''}/>`,
    ),
    ...others.map((target) => `<disk name='${xmlText(target)}' checkpoint='no'/>`),
  ];
  const created = redefine ? `<creationTime>${redefine.createdAt}</creationTime>` : '';
  return `<domaincheckpoint><name>${xmlText(name)}</name><description>${xmlText(checkpointMarker(runId))}</description>${created}<disks>${disks.join('')}</disks></domaincheckpoint>\n`;
}

// Who made a checkpoint, by its name and description: a run of ours (null: an older version's,
// which named no run), or undefined: another tool (or someone who re-created one under our name).
export function checkpointMaker(name: string, description: string): { readonly runId: string | null } | undefined {
  if (!isSendenseBitmap(name)) return undefined;
  if (description === OLD_MARKER) return { runId: null };
  const run = /^sendense-run backup, run (\S+)$/.exec(description)?.[1];
  return run === undefined ? undefined : { runId: run };
}

// The description of a checkpoint as `virsh checkpoint-dumpxml` prints it ('' when it has none).
export function checkpointDescription(xml: string): string {
  const root = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml').documentElement;
  return (root ? firstChild(root, 'description')?.textContent : undefined)?.trim() ?? '';
}

// True when the checkpoint `name` of the domain is the one run `runId` made (its description says so).
export async function checkpointMadeBy(virsh: Virsh, domain: string, name: string, runId: string): Promise<boolean> {
  const dumped = await virsh.attempt(['checkpoint-dumpxml', domain, name, '--no-domain']);
  const description = dumped.exitCode === 0 ? checkpointDescription(dumped.stdout) : '';
  return description === checkpointMarker(runId) || description === OLD_MARKER;
}

// The question checkpointProblem asks of a listed checkpoint. Running, --size asks QEMU for each
// bitmap: a missing or broken one is an error.
export function checkpointDumpCall(domain: string, name: string, active: boolean): readonly string[] {
  return ['checkpoint-dumpxml', domain, name, '--no-domain', ...(active ? ['--size'] : [])];
}

// Why the checkpoint `name`, made by run `runId`, cannot say what changed since it, if it cannot.
// `asked`: the answer to checkpointDumpCall when the caller asked it already (with other questions).
export async function checkpointProblem(
  virsh: Virsh,
  exec: NodeExec,
  domain: string,
  checkpoint: { readonly name: string; readonly runId: string },
  active: boolean,
  known: readonly string[],
  disks: readonly CheckpointDisk[],
  asked?: ExecResult,
): Promise<string | undefined> {
  const { name, runId } = checkpoint;
  if (!known.includes(name))
    return `checkpoint '${name}' is not on domain ${domain} (deleted, or the domain was redefined without it)`;
  const dumped = asked ?? (await virsh.attempt(checkpointDumpCall(domain, name, active)));
  if (dumped.exitCode !== 0) return `checkpoint '${name}' of domain ${domain} is unusable: ${virshMessage(dumped)}`;
  const description = checkpointDescription(dumped.stdout);
  if (description !== checkpointMarker(runId) && description !== OLD_MARKER) {
    // Its bitmap tracks writes only since it was re-created: the writes before are in no backup.
    return `checkpoint '${name}' of domain ${domain} is not the one run ${runId} made (deleted and re-created under its name?)`;
  }
  if (active) return undefined;
  for (const disk of disks) {
    const info = await imageInfo(disk.path, { runner: (argv) => exec(argv), forceShare: true }).catch(
      (error: unknown) => {
        throw new SendenseError((error as Error).message);
      },
    );
    const problem = bitmapProblem(info.bitmaps, name);
    if (problem === 'missing')
      return `the bitmap of checkpoint '${name}' is missing from ${disk.path} (disk ${disk.target} replaced?)`;
    if (problem === 'inconsistent')
      return `the bitmap of checkpoint '${name}' on ${disk.path} is inconsistent (the VM was not shut down cleanly)`;
    if (problem === 'disabled') return `the bitmap of checkpoint '${name}' on ${disk.path} is disabled`;
  }
  return undefined;
}

// A shut-off domain: the bitmap in every covered image, then the checkpoint in libvirt's metadata.
export async function createCheckpointOffline(
  virsh: Virsh,
  exec: NodeExec,
  domain: string,
  checkpoint: { readonly name: string; readonly runId: string },
  disks: readonly CheckpointDisk[],
  others: readonly string[],
): Promise<void> {
  const { name, runId } = checkpoint;
  const runner = (argv: readonly string[]) => exec(argv);
  for (const disk of disks) await bitmapAdd(disk.path, name, runner);
  const xml = checkpointXml(
    name,
    runId,
    disks.map((disk) => disk.target),
    others,
    { createdAt: Math.floor(Date.now() / 1000) },
  );
  await virsh.runWithXml(
    ['checkpoint-create', domain, '--redefine', '--xmlfile'],
    xml,
    `record checkpoint ${name} on domain ${domain}`,
  );
}

// Deletes one of our checkpoints, running or shut off, whole or half made; a checkpoint that is not
// there is not an error. Other tools' checkpoints are never named here.
export async function deleteCheckpoint(
  virsh: Virsh,
  exec: NodeExec,
  domain: string,
  name: string,
  disks: readonly CheckpointDisk[],
): Promise<void> {
  // Deleted at once when it is there and libvirt can (a running domain): no listing first.
  if ((await virsh.attempt(['checkpoint-delete', domain, name])).exitCode === 0) return;
  const known = await virsh.attempt(['checkpoint-list', domain, '--name']);
  // libvirt not answering is no answer: the caller keeps its record (doctor tries again); a domain
  // libvirt does not know has no metadata left, only perhaps bitmaps in its images (below).
  if (known.exitCode !== 0 && !/failed to get domain|domain not found/i.test(known.stderr))
    throw new SendenseError(`delete checkpoint ${name} of domain ${domain}: ${virshMessage(known)}`);
  const listed = known.exitCode === 0 && known.stdout.split('\n').some((line) => line.trim() === name);
  if (listed) {
    const result = await virsh.attempt(['checkpoint-delete', domain, name]);
    if (result.exitCode === 0) return;
    // Shut off (libvirt 9 cannot), or its bitmap already gone: drop the metadata, then the bitmaps below.
    await virsh.run(['checkpoint-delete', domain, name, '--metadata'], `delete checkpoint ${name} of domain ${domain}`);
  }
  if (known.exitCode === 0 && (await domainIsActive(virsh, domain).catch(() => true))) return;
  const runner = (argv: readonly string[]) => exec(argv);
  for (const disk of disks) {
    const info = await imageInfo(disk.path, { runner }).catch(() => undefined);
    if (info?.bitmaps.some((bitmap) => bitmap.name === name)) await bitmapRemove(disk.path, name, runner);
  }
}
