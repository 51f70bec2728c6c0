// One point of the hub sent to a copy (docs/copies.md#what-is-sent), once the copy holds its
// parent. Every disk's file first (checked against its manifest on the hub when asked; one that
// is already there, under its real name but without its manifest, is kept when it holds the hub
// file's bytes), each on its way while the one before is checked there; then the domain XML, then
// the manifests: a point is complete on the copy only when every disk's manifest is there, and a
// manifest is written only once every file of the point is in place.

import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isSendenseError } from '../errors.js';
import { readBacking } from '../qemu/qcow2-header.js';
import { domainDefinitionFile } from '../repository/layout.js';
import { manifestPath, type DiskManifest } from '../repository/manifest.js';
import { parseManifest, readManifest } from '../repository/manifest-file.js';
import { layerIdentityProblem } from '../repository/layer-identity.js';
import { verifyLayer, type VerifyLayerOptions } from '../repository/verify-layer.js';
import { crashPoint } from '../crash-points.js';
import type { Backup, BackupDisk } from '../store/index.js';
import { fileBytes, textBytes, type BytePatch, type Pace } from './outgoing-bytes.js';
import { placeFile, placeFiles, type FileToPlace, type PlaceContext } from './place-file.js';

export interface PointContext extends PlaceContext {
  readonly repository: string;
  readonly verify: boolean;
  /** Records the qemu-nbd a verification starts (doctor stops it after a kill). */
  readonly verifyOptions: VerifyLayerOptions;
  /** Bytes of one file sent so far, of its size. */
  readonly progress: (disk: number, bytesDone: number, bytesToDo: number) => void;
  /** The copy's point that now holds a point the copy merged away (docs/copies.md#retention), if any. */
  readonly standIn?: (id: string) => string | undefined;
  /** The run's rate, in front of every byte of the point (none = not limited). */
  readonly pace?: Pace;
}

/** What sending a point did. */
export interface PointSent {
  readonly filesSent: number;
  /** Files already in place whose sha256 was the hub file's: kept, not sent again. */
  readonly filesKept: number;
  readonly bytes: number;
}

/** Why a point is not sent (a fact of the hub's, or of the copy's chain), if so. */
export type PointOutcome = { readonly sent: PointSent } | { readonly notSent: string };

interface DiskWork {
  readonly disk: BackupDisk;
  /** The hub's manifest, and the copy's (the same unless the point is rebased there). */
  readonly manifest: DiskManifest;
  readonly manifestText: string;
  /** The backing file's name sent as the stand-in's, when the parent was merged away on the copy. */
  readonly patch?: BytePatch;
  /** Relative to the VM's folder on the copy. */
  readonly file: string;
  readonly manifestFile: string;
  /** The copy has this disk complete already, as this point. */
  readonly done: boolean;
}

// `copy`: the files under the VM's folder on the copy (relative to it), with their sizes;
// `present`: the manifests there, kept up to date as this run writes more.
export async function copyPoint(
  context: PointContext,
  backup: Backup,
  copy: ReadonlyMap<string, number>,
  present: Set<string>,
): Promise<PointOutcome> {
  const { target } = context;
  const vm = backup.vm;
  const inVm = (relative: string) => path.posix.join(vm, relative);
  const disks: DiskWork[] = [];
  for (const disk of backup.disks) {
    const hubManifest = await hubManifestOf(disk);
    if (typeof hubManifest === 'string') return { notSent: hubManifest };
    const dir = `disk-${disk.diskKey}`;
    const manifestFile = `${dir}/${backup.id}.json`;
    const parent = hubManifest.manifest.parentId;
    let sent = {
      manifestText: hubManifest.manifestText,
      patch: undefined as BytePatch | undefined,
      link: hubManifest.manifest,
    };
    if (parent !== null && !present.has(`${dir}/${parent}.json`)) {
      const rebased = await rebaseOnStandIn(context, vm, dir, hubManifest.manifest, disk.file, present);
      if (typeof rebased === 'string') return { notSent: rebased };
      sent = rebased;
    }
    const done = present.has(manifestFile) && sameLink(await target.read(inVm(manifestFile)), sent.link);
    disks.push({
      disk,
      manifest: hubManifest.manifest,
      manifestText: sent.manifestText,
      patch: sent.patch,
      file: `${dir}/${backup.id}.qcow2`,
      manifestFile,
      done,
    });
  }
  const work = disks.filter((disk) => !disk.done);
  for (const { disk, manifest } of work) {
    const why = await hubFileProblem(context, disk, manifest);
    if (why !== undefined) return { notSent: why };
  }

  const files: FileToPlace[] = [];
  let filesKept = 0;
  let bytes = 0;
  for (const { disk, file, patch } of work) {
    if (patch === undefined && copy.has(file) && (await target.sameAs(inVm(file), disk.file))) {
      filesKept++;
      continue;
    }
    const size = (await stat(disk.file)).size;
    bytes += size;
    files.push({
      relative: inVm(file),
      bytes: () =>
        fileBytes(disk.file, size, {
          onProgress: (sent) => context.progress(disk.diskKey, sent, size),
          pace: context.pace,
          patch,
        }),
    });
  }
  await placeFiles(context, files, () => crashPoint('copy.file-placed'));
  // The point's small files last, each step only once the one before is in place: the domain XML, then the manifests.
  const definition = domainDefinitionFile(context.repository, vm, backup.id);
  const definitionFile = `domain/${backup.id}.xml`;
  if (work.length > 0 && existsSync(definition) && !copy.has(definitionFile))
    bytes += await placeText(context, inVm(definitionFile), await readFile(definition, 'utf8'));
  const manifests = work.map(({ manifestFile, manifestText }) => ({
    relative: inVm(manifestFile),
    bytes: () => textBytes(manifestText, context.pace),
  }));
  await placeFiles(context, manifests);
  for (const { manifestFile, manifestText } of work) {
    present.add(manifestFile);
    bytes += Buffer.byteLength(manifestText);
  }
  return { sent: { filesSent: files.length, filesKept, bytes } };
}

// The hub's parent of this disk was merged away on the copy, into a point the copy still has (its
// stand-in), older than this one: that point reads as the parent plus only what the hub's file
// of this point covers (the hub merged those points into it), so the file is sent with the
// stand-in's name as its backing file, and its manifest names the stand-in as its parent.
async function rebaseOnStandIn(
  context: PointContext,
  vm: string,
  dir: string,
  manifest: DiskManifest,
  file: string,
  present: ReadonlySet<string>,
): Promise<{ manifestText: string; patch: BytePatch; link: DiskManifest } | string> {
  const parent = manifest.parentId!;
  const missing = `its parent ${parent} is not complete on the copy (disk ${manifest.diskKey})`;
  const standIn = context.standIn?.(parent);
  if (standIn === undefined || !present.has(`${dir}/${standIn}.json`)) return missing;
  const text = await context.target.read(path.posix.join(vm, dir, `${standIn}.json`));
  if (text === undefined) return missing;
  const theirs = parseManifest(text, context.target.absolute(path.posix.join(vm, dir, `${standIn}.json`)));
  if (theirs.startedAt >= manifest.startedAt)
    return `its parent ${parent} was merged on the copy into ${standIn}, a later point (disk ${manifest.diskKey})`;
  const backing = readBacking(file);
  const name = `${standIn}.qcow2`;
  if (
    backing === undefined ||
    backing.name !== manifest.parentFile ||
    Buffer.byteLength(name) !== Buffer.byteLength(backing.name)
  )
    return missing;
  const link: DiskManifest = { ...manifest, parentId: standIn, parentFile: name };
  return {
    manifestText: `${JSON.stringify(link)}\n`,
    patch: { offset: backing.offset, bytes: Buffer.from(name) },
    link,
  };
}

async function placeText(context: PointContext, relative: string, text: string): Promise<number> {
  await placeFile(context, relative, textBytes(text, context.pace));
  return Buffer.byteLength(text);
}

// The hub's manifest of a disk, checked, and its exact text (what the copy gets); a string says why not.
async function hubManifestOf(disk: BackupDisk): Promise<{ manifest: DiskManifest; manifestText: string } | string> {
  const file = manifestPath(disk.file);
  if (!existsSync(file))
    return `no manifest beside ${disk.file} on the hub${disk.manifest ? '' : ' (taken before manifests existed)'}`;
  try {
    return { manifest: await readManifest(file), manifestText: await readFile(file, 'utf8') };
  } catch (error) {
    if (isSendenseError(error)) return error.message;
    throw error;
  }
}

// A disk the copy has complete as the same link of the chain: its manifest names the same parent.
// Another one (the hub merged since the copy got part of this point) is sent again.
function sameLink(copyText: string | undefined, hub: DiskManifest): boolean {
  try {
    const copy = JSON.parse(copyText ?? '') as Partial<DiskManifest>;
    return (
      copy.backupId === hub.backupId &&
      copy.type === hub.type &&
      copy.parentId === hub.parentId &&
      copy.chainId === hub.chainId
    );
  } catch {
    return false;
  }
}

// The hub's file must be linked as its manifest says (its backing name is what the copy resolves
// beside it), and with `verify` match its manifest, before the copy gets it.
async function hubFileProblem(
  context: PointContext,
  disk: BackupDisk,
  manifest: DiskManifest,
): Promise<string | undefined> {
  if (!existsSync(disk.file)) return `its file ${disk.file} is missing on the hub`;
  const backing = readBacking(disk.file)?.name ?? null;
  if (backing !== manifest.parentFile)
    return `its file ${disk.file} names backing file ${backing ?? 'none'}, its manifest ${manifest.parentFile ?? 'none'}`;
  // Another point's file in its place would be sent under this point's manifest (docs/encryption.md#what-an-attacker-cannot-plant).
  const identity = layerIdentityProblem(disk.file);
  if (identity !== undefined) return `its file ${disk.file} is not this point's: ${identity}`;
  if (!context.verify) return undefined;
  const result = await verifyLayer(disk.file, manifest, context.verifyOptions);
  if (result.busy !== undefined) return result.busy;
  if (result.findings.length > 0)
    return `its file for disk ${disk.diskKey} does not match its manifest on the hub (${result.findings[0]!.message}): run sendense-run verify`;
  return undefined;
}
