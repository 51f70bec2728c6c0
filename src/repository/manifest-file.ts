// Reading and writing manifests: written atomically (a temp file beside it, fsync, rename, fsync of
// the directory), mode 0600 like every repository file; read back with a check of its shape.

import { constants } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { isProcessAlive } from '../process/index.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type DiskManifest } from './manifest.js';
import { manifestMacProblem, withManifestMac } from './manifest-mac.js';
import { encryptedRepositoryOf } from './repository-keys.js';
import { createNewFile } from './new-file.js';

// The temp file writeManifest writes `file` through (`.<name>.<pid>.tmp`, beside it).
function manifestTemp(file: string, pid: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
}

/** A temp file writeManifest made: the manifest it was for (its name) and its writer's PID. */
export interface ManifestTemp {
  readonly manifest: string;
  readonly writerPid: number;
}

// `.<name>.<pid>.tmp` where <name> is a manifest's (`….json`, or a merge's pending `….json.merge`).
export function parseManifestTemp(name: string): ManifestTemp | undefined {
  const temp = /^\.(.+\.json(?:\.merge)?)\.(\d+)\.tmp$/.exec(name);
  return temp === null ? undefined : { manifest: temp[1]!, writerPid: Number(temp[2]) };
}

/**
 * The temp files beside `file` it was being written through: a writer killed between writing and
 * renaming leaves one. `deadWritersOnly`: only those whose writer is gone.
 */
export async function manifestTemps(file: string, { deadWritersOnly = false } = {}): Promise<string[]> {
  const dir = path.dirname(file);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((name) => {
      const temp = parseManifestTemp(name);
      return (
        temp !== undefined &&
        temp.manifest === path.basename(file) &&
        !(deadWritersOnly && isProcessAlive(temp.writerPid))
      );
    })
    .map((name) => path.join(dir, name));
}

// In an encrypted repository with its authentication code (manifest-mac.ts), made here and nowhere else.
export async function writeManifest(file: string, manifest: DiskManifest): Promise<void> {
  const repository = encryptedRepositoryOf(file);
  const content = repository === undefined ? manifest : withManifestMac(manifest, repository);
  const temp = manifestTemp(file, process.pid);
  const handle = await createNewFile(temp, 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(content)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  const dir = await open(path.dirname(file), constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

// A manifest is trusted with nothing it does not prove: every field has its type and range, and it
// must stand where it says it belongs, <repository>/<vm>/disk-<key>/<backupId>.json beside
// <backupId>.qcow2 (docs/how-it-works.md#verification). A crafted `file` or id would otherwise point
// a prune or a merge at a file outside the repository. In an encrypted repository its authentication
// code must be the repository's (docs/encryption.md#what-an-attacker-cannot-plant); `withoutMac`: one
// written before manifests carried it is read all the same (verify --authenticate, which then adds it).
export async function readManifest(
  file: string,
  options: { readonly withoutMac?: boolean } = {},
): Promise<DiskManifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(error as Error).message})`;
    throw new SendenseError(`manifest ${file} is ${why}`);
  }
  const manifest = parseManifest(text, file);
  const repository = encryptedRepositoryOf(file);
  if (repository === undefined || (options.withoutMac === true && manifest.mac === undefined)) return manifest;
  const problem = manifestMacProblem(manifest, repository);
  if (problem !== undefined) throw new SendenseError(`manifest ${file} is refused: ${problem}`);
  return manifest;
}

// A manifest's text read from `file` (here, or on a copy's host: docs/copies.md#retention), checked as readManifest does.
export function parseManifest(text: string, file: string): DiskManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SendenseError(`manifest ${file} is unreadable (${(error as Error).message})`);
  }
  const manifest = parsed as Partial<DiskManifest> | null;
  if (
    manifest?.format !== MANIFEST_FORMAT ||
    manifest.version !== MANIFEST_VERSION ||
    typeof manifest.backupId !== 'string' ||
    typeof manifest.diskKey !== 'number'
  ) {
    throw new SendenseError(`manifest ${file} is not a sendense backup manifest (version ${MANIFEST_VERSION})`);
  }
  const problem =
    manifestProblem(manifest as Record<string, unknown>) ?? locationProblem(file, manifest as DiskManifest);
  if (problem !== undefined) throw new SendenseError(`manifest ${file} is refused: ${problem}`);
  return manifest as DiskManifest;
}

// Backup and chain ids, VM names: the characters the layout uses, no path separators, no "..".
const ID = /^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$/;

/** Whether `value` can be a backup id: what a path is built from, read from a place others can write. */
export function isBackupIdText(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}
const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const HEX = /^[0-9a-f]{1,128}$/;

function manifestProblem(m: Record<string, unknown>): string | undefined {
  const id = (name: string, value: unknown) =>
    typeof value === 'string' && ID.test(value) ? undefined : `${name} ${JSON.stringify(value)} is not a backup id`;
  const text = (name: string, value: unknown, nullable = false) =>
    typeof value === 'string' || (nullable && value === null)
      ? undefined
      : `${name} must be ${nullable ? 'text or null' : 'text'}`;
  const time = (name: string, value: unknown) =>
    typeof value === 'string' && !Number.isNaN(Date.parse(value))
      ? undefined
      : `${name} ${JSON.stringify(value)} is not a time`;
  const count = (name: string, value: unknown, least: number) =>
    Number.isSafeInteger(value) && (value as number) >= least
      ? undefined
      : `${name} ${JSON.stringify(value)} is not a whole number of at least ${least}`;
  const found =
    (typeof m.vm === 'string' && VM_NAME.test(m.vm) ? undefined : `vm ${JSON.stringify(m.vm)} is not a VM name`) ??
    count('diskKey', m.diskKey, 0) ??
    id('backupId', m.backupId) ??
    id('chainId', m.chainId) ??
    (m.type === 'full' || m.type === 'incremental'
      ? undefined
      : `type ${JSON.stringify(m.type)} is neither full nor incremental`) ??
    (m.type === 'full'
      ? m.parentId === null && m.parentFile === null
        ? undefined
        : 'a full backup names a parent'
      : undefined) ??
    (m.type === 'incremental'
      ? (id('parentId', m.parentId) ??
        (m.parentFile === `${String(m.parentId)}.qcow2`
          ? undefined
          : `parentFile ${JSON.stringify(m.parentFile)} is not its parent's file`))
      : undefined) ??
    text('plan', m.plan) ??
    text('changeId', m.changeId, true) ??
    text('bitmap', m.bitmap, true) ??
    text('source', m.source) ??
    text('sourceNode', m.sourceNode) ??
    time('startedAt', m.startedAt) ??
    time('completedAt', m.completedAt) ??
    count('virtualSize', m.virtualSize, 1) ??
    count('bytes', m.bytes, 0) ??
    (m.file === `${String(m.backupId)}.qcow2`
      ? undefined
      : `file ${JSON.stringify(m.file)} is not ${String(m.backupId)}.qcow2`) ??
    identityProblem(m.identity) ??
    sampleProblem(m.sample) ??
    (m.mac === undefined || typeof m.mac === 'string' ? undefined : 'mac must be text');
  return found ?? digestsProblem(m.digests, m.virtualSize as number);
}

// Absent (not measured), or blocks sampled and how many of them did not compress (docs/anomaly.md#what-is-measured).
function sampleProblem(sample: unknown): string | undefined {
  if (sample === undefined) return undefined;
  const s = sample as Partial<Record<'sampledBlocks' | 'incompressibleBlocks', unknown>> | null;
  return typeof s === 'object' &&
    s !== null &&
    Number.isSafeInteger(s.sampledBlocks) &&
    Number.isSafeInteger(s.incompressibleBlocks) &&
    (s.incompressibleBlocks as number) >= 0 &&
    (s.incompressibleBlocks as number) <= (s.sampledBlocks as number)
    ? undefined
    : 'sample must hold sampledBlocks and incompressibleBlocks, whole numbers, the second at most the first';
}

// Absent (written before it was recorded), or a LUKS header's UUID and digest (qemu/luks-identity.ts).
function identityProblem(identity: unknown): string | undefined {
  if (identity === undefined) return undefined;
  const i = identity as Partial<Record<'luksUuid' | 'luksHeader', unknown>> | null;
  return typeof i === 'object' &&
    i !== null &&
    typeof i.luksUuid === 'string' &&
    /^[0-9A-Za-z-]{1,40}$/.test(i.luksUuid) &&
    typeof i.luksHeader === 'string' &&
    /^sha256:[0-9a-f]{64}$/.test(i.luksHeader)
    ? undefined
    : 'identity must hold a LUKS UUID (luksUuid) and a sha256 digest (luksHeader)';
}

// null (a client that reports none), or sorted ranges inside the disk, each data range with a digest.
function digestsProblem(digests: unknown, virtualSize: number): string | undefined {
  if (digests === null) return undefined;
  const d = digests as Partial<Record<'algorithm' | 'data' | 'zero', unknown>> | undefined;
  if (
    typeof d !== 'object' ||
    d === undefined ||
    typeof d.algorithm !== 'string' ||
    !Array.isArray(d.data) ||
    !Array.isArray(d.zero)
  ) {
    return 'digests must hold an algorithm, data and zero ranges';
  }
  const inside = (range: unknown, withDigest: boolean): boolean => {
    if (!Array.isArray(range) || range.length !== (withDigest ? 3 : 2)) return false;
    const [offset, length, digest] = range as unknown[];
    return (
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(length) &&
      (offset as number) >= 0 &&
      (length as number) > 0 &&
      (offset as number) + (length as number) <= virtualSize &&
      (!withDigest || (typeof digest === 'string' && HEX.test(digest)))
    );
  };
  const badData = d.data.findIndex((range) => !inside(range, true));
  if (badData !== -1) return `digests.data[${badData}] is not [offset, length, hex digest] inside the disk`;
  const badZero = d.zero.findIndex((range) => !inside(range, false));
  if (badZero !== -1) return `digests.zero[${badZero}] is not [offset, length] inside the disk`;
  return undefined;
}

// <repository>/<vm>/disk-<key>/<backupId>.json (or the merged manifest written beside it).
function locationProblem(file: string, manifest: DiskManifest): string | undefined {
  const name = path.basename(file).replace(/\.merge$/, '');
  const diskDir = path.basename(path.dirname(file));
  const vmDir = path.basename(path.dirname(path.dirname(file)));
  if (name !== `${manifest.backupId}.json`)
    return `it describes backup ${manifest.backupId} but is named ${path.basename(file)}`;
  if (diskDir !== `disk-${manifest.diskKey}`) return `it describes disk ${manifest.diskKey} but lies in ${diskDir}`;
  if (vmDir !== manifest.vm) return `it describes VM ${manifest.vm} but lies in ${vmDir}`;
  return undefined;
}
