// Moving a recovered domain's disks off the served point (docs/instant-recovery.md): while it runs,
// a block copy of each overlay (and the point under it) into its storage file, then a pivot; while
// it is shut off, qemu-img convert and a new definition. Used by recover runs and by doctor.

import { SendenseError } from '../errors.js';
import {
  abortBlockCopy,
  awaitBlockJobEvent,
  blockCopyProgress,
  mirrors,
  pivotBlockCopy,
  startBlockCopy,
} from './block-copy.js';
import { parseDomainXml } from './domain-xml.js';
import { replaceDiskImages } from './recovered-domain-xml.js';
import { virshMessage, type NodeExec, type Virsh } from './virsh.js';
import { convertToQcow2Argv } from '../qemu/command-lines.js';

/** A disk of a recovered domain: the overlay it starts on and the file it ends in. */
export interface RecoveredImage {
  readonly key: number;
  readonly overlay: string;
  readonly storage: string;
}

/** A disk the domain still has on its overlay, with its target there (read from the domain's XML). */
export interface MovedDisk extends RecoveredImage {
  readonly target: string;
}

export interface MoveContext {
  readonly virsh: Virsh;
  readonly exec: NodeExec;
  readonly domain: string;
  readonly disks: readonly RecoveredImage[];
  /** A running domain's copy of a disk, as libvirt reports it. */
  readonly progress?: (key: number, bytesDone: number, bytesToDo: number) => void;
  readonly note?: (line: string) => void;
  /** Bytes per second the copies may use together (shared equally by the disks copied). */
  readonly rate?: number;
  /** Called as the move reaches a phase (the crash tests' seam). */
  readonly reached?: (phase: 'copying' | 'copies-ready') => void;
}

export interface DomainUse {
  readonly exists: boolean;
  readonly active: boolean;
  /** The disks whose image is still their overlay (so they read the served point). */
  readonly onOverlays: readonly MovedDisk[];
}

// Between checks the move waits for libvirt's block job event (a copy ready, ended, failed), at
// most this long: the progress is reported at that pace, and an event that came before virsh
// listened costs no more. Checks are a few virsh calls each, on the cores the copy needs.
const CHECK_SECONDS = 1;
// When virsh cannot wait for events: a plain pause between checks.
const POLL_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Whether the domain exists, runs, and which disks still use their overlays (live XML when it runs, else its definition).
export async function domainUse(virsh: Virsh, domain: string, disks: readonly RecoveredImage[]): Promise<DomainUse> {
  const state = await virsh.attempt(['domstate', domain]);
  if (state.exitCode !== 0) {
    if (/failed to get domain|domain not found|no domain with matching/i.test(virshMessage(state)))
      return { exists: false, active: false, onOverlays: [] };
    throw new SendenseError(`read the state of domain ${domain}: ${virshMessage(state)}`);
  }
  const active = !/^(shut off|crashed)$/.test(state.stdout.trim());
  const xml = await virsh.run(
    ['dumpxml', ...(active ? [] : ['--inactive']), domain],
    `read the XML of domain ${domain}`,
  );
  return { exists: true, active, onOverlays: disksOnOverlays(xml, disks) };
}

// The domain's disks (in its XML) whose image is one of the overlays.
function disksOnOverlays(xml: string, disks: readonly RecoveredImage[]): MovedDisk[] {
  return parseDomainXml(xml).disks.flatMap(({ target, path }) => {
    const image = disks.find((disk) => disk.overlay === path);
    return image === undefined ? [] : [{ ...image, target }];
  });
}

// The running domain's disks copied and pivoted; a domain that stops meanwhile is moved offline.
export async function moveWhileRunning(context: MoveContext): Promise<'pivoted' | 'converted'> {
  const restarts = new Map<string, number>();
  let listen = true;
  for (;;) {
    // Listening before the check: a copy that gets ready while the check reads the state still wakes the next one.
    // Not after the switch-over: the next check only confirms it, and no event would end the wait.
    // Only where calls cost nothing at once (this host): through a node the wait would hold its
    // command shell, and each call of the check would open an SSH session of its own.
    const event =
      listen && context.virsh.concurrent
        ? awaitBlockJobEvent(context.virsh, context.domain, CHECK_SECONDS)
        : Promise.resolve(false);
    // Whatever the check did, its wait ends first (a pivot ends the copy job, whose event ends it too).
    const step = await stepMove(context, restarts).finally(() => event);
    const heard = await event;
    if (step === 'pivoted' || step === 'converted') return step;
    listen = step === 'copying';
    if (listen && !heard) await sleep(POLL_MS);
  }
}

// One check of the move: copies started where missing, progress reported, all switched over once every copy is ready.
async function stepMove(
  context: MoveContext,
  restarts: Map<string, number>,
): Promise<'pivoted' | 'converted' | 'switched' | 'copying'> {
  const { virsh, domain } = context;
  const use = await domainUse(virsh, domain, context.disks);
  if (!use.exists) throw new SendenseError(`domain ${domain} was undefined during the move`);
  if (!use.active) {
    context.note?.(`domain ${domain} stopped during the move: copying its disks while it is shut off`);
    await moveWhileShutOff(context);
    return 'converted';
  }
  if (use.onOverlays.length === 0) return 'pivoted';
  const mirrored = await mirrors(virsh, domain);
  let allReady = true;
  for (const disk of use.onOverlays) {
    const mirror = mirrored.get(disk.target);
    if (mirror !== undefined && mirror.file !== disk.storage)
      throw new SendenseError(
        `disk ${disk.target} of domain ${domain} is being copied to ${mirror.file} by someone else`,
      );
    const progress = mirror === undefined ? undefined : await blockCopyProgress(virsh, domain, disk.target);
    if (mirror === undefined || progress === undefined) {
      const tries = restarts.get(disk.target) ?? 0;
      if (tries >= 2)
        throw new SendenseError(
          `the copy of disk ${disk.target} of domain ${domain} to ${disk.storage} ended before it was ready, ${tries} times`,
        );
      restarts.set(disk.target, tries + 1);
      if (tries > 0) context.note?.(`the copy of disk ${disk.target} ended before it was ready: starting it again`);
      await startBlockCopy(
        virsh,
        domain,
        disk.target,
        disk.storage,
        context.rate === undefined ? undefined : context.rate / use.onOverlays.length,
      );
      allReady = false;
      continue;
    }
    context.progress?.(disk.key, progress.bytesDone, progress.bytesToDo);
    if (!mirror.ready) allReady = false;
  }
  if (!allReady) {
    context.reached?.('copying');
    return 'copying';
  }
  context.reached?.('copies-ready');
  for (const disk of use.onOverlays) await pivotBlockCopy(virsh, domain, disk.target);
  await keepDefinitionOnStorage(context);
  return 'switched';
}

// A shut-off domain: each overlay (read through the served point) converted into its storage file, then the definition moved.
export async function moveWhileShutOff(context: MoveContext): Promise<void> {
  const { exec, virsh, domain } = context;
  const use = await domainUse(virsh, domain, context.disks);
  for (const disk of use.onOverlays) {
    const part = `${disk.storage}.sendense-part`;
    const converted = await exec(convertToQcow2Argv(disk.overlay, part));
    if (converted.exitCode !== 0) {
      await exec(['rm', '-f', '--', part]);
      throw new SendenseError(
        `copy ${disk.overlay} to ${disk.storage}: ${converted.stderr.trim() || `qemu-img exited ${converted.exitCode}`}`,
      );
    }
    const placed = await exec([
      'sh',
      '-c',
      'chmod 600 -- "$1" && mv -n -- "$1" "$2" && test ! -e "$1"',
      'sendense-place',
      part,
      disk.storage,
    ]);
    if (placed.exitCode !== 0)
      throw new SendenseError(
        `could not put ${disk.storage} in place (does it exist already?): ${placed.stderr.trim()}`,
      );
  }
  await keepDefinitionOnStorage(context);
}

// The persistent definition names the storage files, not the overlays (libvirt updates it on pivot; made sure here).
async function keepDefinitionOnStorage({ virsh, domain, disks }: MoveContext): Promise<void> {
  const inactive = await virsh.run(['dumpxml', '--inactive', domain], `read the definition of domain ${domain}`);
  const stale = disksOnOverlays(inactive, disks);
  if (stale.length === 0) return;
  const xml = replaceDiskImages(inactive, new Map(stale.map((disk) => [disk.target, disk.storage])));
  await virsh.runWithXml(['define', '--file'], xml, `define domain ${domain} on its moved disks`);
}

// Copies that will not be pivoted (the move failed): the disks stay on their overlays.
export async function abandonCopies(virsh: Virsh, domain: string, disks: readonly RecoveredImage[]): Promise<void> {
  for (const disk of (await domainUse(virsh, domain, disks)).onOverlays)
    await abortBlockCopy(virsh, domain, disk.target);
}
