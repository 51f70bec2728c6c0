// Verifies stored backups against their manifests (docs/how-it-works.md#verification) and marks what differs: the
// backup whose own file differs and every backup built on it become 'damaged' (never restorable,
// never a parent) until a verify finds them matching again. Each checked backup records the time of
// its verification. A VM with a merge recorded is not judged (its files are being changed).

import { existsSync } from 'node:fs';
import { manifestPath } from '../repository/manifest.js';
import { readManifest, writeManifest } from '../repository/manifest-file.js';
import { verifyLayer, type LayerFinding } from '../repository/verify-layer.js';
import path from 'node:path';
import { processStartTicks } from '../process/index.js';
import { isSendenseError, SendenseError } from '../errors.js';
import { isLuksQcow2, qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { backingProblem } from '../repository/chain-files.js';
import { recordPointFacts } from '../repository/layer-facts.js';
import { isEncryptedRepository, requireRepositoryKey } from '../repository/repository-settings.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import { identityMismatch } from '../repository/layer-identity.js';
import { readLuksIdentity } from '../qemu/luks-identity.js';
import { IdentityClaims } from './identity-claims.js';
import type { Backup, BackupDisk, Store } from '../store/index.js';

export interface VerifySelection {
  readonly vm?: string;
  readonly backupId?: string;
  /** Only backups in this repository (kind: verify plans). */
  readonly repository?: string;
  /** Milliseconds: only backups not verified within this time (kind: verify plans' outdatedAfter). */
  readonly outdatedAfter?: number;
  /**
   * verify --authenticate: a manifest of an encrypted repository without its code, or without its
   * file's identity, gets them when its file checks clean and is no other point's.
   */
  readonly authenticate?: boolean;
}

export type VerifyEvent =
  | {
      readonly type: 'disk';
      readonly backupId: string;
      readonly vm: string;
      readonly disk: number;
      readonly ok: boolean;
      readonly digestsChecked: boolean;
      readonly bytesRead: number;
      readonly findings: readonly LayerFinding[];
      /** Its manifest, written before manifests carried one (or before it named its file), now carries its code and its file's identity. */
      readonly authenticated?: boolean;
    }
  | {
      readonly type: 'damaged';
      readonly backupId: string;
      readonly vm: string;
      readonly because: string;
      readonly builtOnIt: readonly string[];
    }
  | { readonly type: 'cleared'; readonly backupId: string; readonly vm: string; readonly was: string }
  | { readonly type: 'still-damaged'; readonly backupId: string; readonly vm: string; readonly because: string }
  | {
      readonly type: 'unverifiable';
      readonly backupId: string;
      readonly vm: string;
      readonly disk: number;
      readonly reason: string;
    }
  | { readonly type: 'not-verified'; readonly backupId: string; readonly vm: string; readonly reason: string }
  | {
      readonly type: 'repository-not-verified';
      readonly repository: string;
      readonly backups: readonly string[];
      readonly reason: string;
    };

/** An encrypted repository no key given opens: its backups were left alone (never judged damaged). */
export interface LockedRepository {
  readonly repository: string;
  readonly backups: readonly string[];
  /** Why: "repository R is encrypted; no key given …" or "… the key given does not open it". */
  readonly reason: string;
}

export interface VerifyOutcome {
  readonly checked: number;
  /** Backups with a file that has no manifest (taken before manifests existed): not judged. */
  readonly unverifiable: readonly string[];
  readonly damaged: readonly string[];
  /** Damaged backups found matching their manifests again, their parents complete: complete again. */
  readonly cleared: readonly string[];
  /** Backups not checked this time: their VM had a merge under way or unfinished, or a file was busy. */
  readonly notVerified: readonly string[];
  /** Encrypted repositories no key given opens: not read at all (the other repositories were verified). */
  readonly lockedRepositories: readonly LockedRepository[];
}

// Complete backups, and damaged ones (a mark is cleared when the files match again), parents first.
export async function verifyBackups(
  store: Store,
  runId: string,
  selection: VerifySelection,
  report: (event: VerifyEvent) => void,
): Promise<VerifyOutcome> {
  const all = await store.listBackups({ vm: selection.vm });
  // Before anything is read: a file that cannot be decrypted must never look damaged. An encrypted
  // repository no key opens is left out and said; the others are verified all the same.
  const { selected, locked } = await withoutLockedRepositories(selectBackups(all, selection));
  for (const { repository, backups, reason } of locked)
    report({ type: 'repository-not-verified', repository, backups, reason });
  // One VM asked for: refused like a run while a merge is recorded for it; every VM: that VM's backups are left for later.
  const single = selection.vm ?? (selection.backupId === undefined ? undefined : selected[0]?.vm);
  if (single !== undefined) await refuseUnfinishedMerge(store, single, 'verify');
  const damaged = new Set<string>();
  const unverifiable: string[] = [];
  const cleared: string[] = [];
  const notVerified: string[] = [];
  const notVerifiedVms = new Map<string, string>();
  let checked = 0;
  const claims = selection.authenticate === true ? new IdentityClaims() : undefined;
  for (const backup of selected) {
    // Already marked through a parent found damaged in this run.
    if (damaged.has(backup.id)) continue;
    const merging = notVerifiedVms.get(backup.vm) ?? (await mergeUnderWay(store, backup.vm));
    if (merging !== undefined) {
      notVerifiedVms.set(backup.vm, merging);
      notVerified.push(backup.id);
      report({ type: 'not-verified', backupId: backup.id, vm: backup.vm, reason: merging });
      continue;
    }
    // A backup taken before manifests existed has nothing to be checked against: said, never judged.
    const bare = backup.disks.find(
      (disk) => !disk.manifest && existsSync(disk.file) && !existsSync(manifestPath(disk.file)),
    );
    if (bare !== undefined) {
      unverifiable.push(backup.id);
      report({
        type: 'unverifiable',
        backupId: backup.id,
        vm: backup.vm,
        disk: bare.diskKey,
        reason: `no manifest beside ${bare.file} (taken before manifests existed)`,
      });
      continue;
    }
    const parent = backup.parentId === null ? undefined : all.find((candidate) => candidate.id === backup.parentId);
    const problems: string[] = [];
    let busy: string | undefined;
    for (const disk of backup.disks) {
      const {
        findings,
        digestsChecked,
        bytesRead,
        busy: inUse,
        authenticated,
      } = await checkDisk(store, runId, backup, disk, parent, claims);
      busy ??= inUse;
      if (inUse !== undefined) continue;
      report({
        type: 'disk',
        backupId: backup.id,
        vm: backup.vm,
        disk: disk.diskKey,
        ok: findings.length === 0,
        digestsChecked,
        bytesRead,
        findings,
        ...(authenticated && { authenticated }),
      });
      for (const finding of findings) problems.push(`disk ${disk.diskKey}: ${finding.message}`);
    }
    // A merge that began while these files were read changed them under the check: judged next time.
    const changed = busy ?? (await mergeUnderWay(store, backup.vm)) ?? (await changedMeanwhile(store, backup));
    if (changed !== undefined) {
      notVerified.push(backup.id);
      report({ type: 'not-verified', backupId: backup.id, vm: backup.vm, reason: changed });
      continue;
    }
    checked++;
    await store.recordVerification(backup.id, new Date().toISOString());
    // Its files as they are now are what listings show (a file gone, a header destroyed).
    await recordPointFacts(store, [backup]);
    if (problems.length === 0) {
      if (backup.status === 'damaged') await clearIfSound(store, backup, damaged, cleared, report);
      continue;
    }
    // Read again now: a backup that completed on it since this verify began is built on it too
    // (one still running is marked as it completes: completeBackup, src/store/backups.ts).
    const builtOnIt = descendants(await store.listBackups({ vm: backup.vm }), backup.id);
    const because = `verify ${new Date().toISOString()}: ${problems.join('; ')}`;
    await store.markDamaged([backup.id], because);
    await store.markDamaged(builtOnIt, `built on damaged backup ${backup.id}`);
    for (const id of [backup.id, ...builtOnIt]) damaged.add(id);
    report({ type: 'damaged', backupId: backup.id, vm: backup.vm, because: problems.join('; '), builtOnIt });
  }
  return { checked, unverifiable, damaged: [...damaged], cleared, notVerified, lockedRepositories: locked };
}

// The backups a verify checks (complete and damaged ones), oldest first.
function selectBackups(all: readonly Backup[], selection: VerifySelection): Backup[] {
  const now = Date.now();
  return all.filter(
    (backup) =>
      (backup.status === 'complete' || backup.status === 'damaged') &&
      (selection.backupId === undefined || backup.id === selection.backupId) &&
      (selection.repository === undefined || path.resolve(backup.repository) === path.resolve(selection.repository)) &&
      (selection.outdatedAfter === undefined ||
        backup.verifiedAt === null ||
        now - Date.parse(backup.verifiedAt) >= selection.outdatedAfter),
  );
}

/**
 * Whether a verify of `selection` can check anything: when every backup it would check lies in an
 * encrypted repository no key given (--key-file, --key-env, a verify plan's) opens, one line, exit 2,
 * before anything is read, marked or recorded. Else the locked repositories are said by verifyBackups.
 */
export async function checkVerifyKeys(store: Store, selection: VerifySelection): Promise<void> {
  await withoutLockedRepositories(selectBackups(await store.listBackups({ vm: selection.vm }), selection));
}

// The backups whose repository is plain or opens with a key given, and the encrypted repositories
// that do not (a backup that cannot be decrypted is not a damaged one). Throws (exit 2) when that
// leaves nothing to check.
async function withoutLockedRepositories(
  backups: readonly Backup[],
): Promise<{ selected: Backup[]; locked: LockedRepository[] }> {
  const locked: LockedRepository[] = [];
  const errors: SendenseError[] = [];
  for (const repository of [...new Set(backups.map((backup) => backup.repository))].sort()) {
    try {
      await requireRepositoryKey(repository);
    } catch (error) {
      if (!isSendenseError(error) || error.exitCode !== 2) throw error;
      errors.push(error);
      const ids = backups.filter((backup) => backup.repository === repository).map((backup) => backup.id);
      locked.push({
        repository,
        backups: ids,
        reason: `${error.message}: verify it on its own with sendense-run verify --repository ${repository} and its key (--key-file FILE or --key-env NAME)`,
      });
    }
  }
  const selected = backups.filter((backup) => !locked.some((entry) => entry.repository === backup.repository));
  if (selected.length === 0 && errors.length === 1) throw errors[0]!;
  if (selected.length === 0 && errors.length > 1) {
    const names = locked.map((entry) => entry.repository).join(', ');
    throw new SendenseError(
      `nothing verified: the ${locked.length} repositories holding these backups (${names}) are encrypted and no key given opens them; verify each with sendense-run verify --repository PATH and its key (--key-file FILE or --key-env NAME)`,
      { exitCode: 2 },
    );
  }
  return { selected, locked };
}

interface DiskCheck {
  readonly findings: readonly LayerFinding[];
  readonly digestsChecked: boolean;
  readonly bytesRead: number;
  /** Another process holds the file (qemu's image locking): not read, not judged. */
  readonly busy?: string;
  readonly authenticated?: boolean;
}

// One disk of a backup: its manifest (present when the backup was written with one, naming this
// backup, disk and parent), the LUKS header it names, the backing file its header names, then its
// own layer's bytes. `claims` (verify --authenticate): a manifest of an encrypted repository without
// its code or without its file's identity (an earlier version's) is checked all the same and gets
// both when everything matches and no other point owns the file's LUKS header: a copy of another
// point's file, made under the same secret, would match digests copied from that point's manifest.
async function checkDisk(
  store: Store,
  runId: string,
  backup: Backup,
  disk: BackupDisk,
  parent: Backup | undefined,
  claims: IdentityClaims | undefined,
): Promise<DiskCheck> {
  const authenticate = claims !== undefined;
  const found = (message: string): DiskCheck => ({ findings: [{ message }], digestsChecked: false, bytesRead: 0 });
  if (!existsSync(manifestPath(disk.file)) && existsSync(disk.file)) {
    return found(
      `its manifest ${manifestPath(disk.file)} is missing (the backup was written with one): its data cannot be vouched for`,
    );
  }
  try {
    const manifest = await readManifest(manifestPath(disk.file), { withoutMac: authenticate });
    const mismatch = manifestMismatch(manifest, backup, disk.diskKey);
    if (mismatch !== undefined) return found(mismatch);
    // Every file of a plain repository is plain: a LUKS header is not what this backup wrote.
    if (isLuksQcow2(disk.file) && !(await isEncryptedRepository(backup.repository))) {
      return found(
        `its header says it is LUKS-encrypted, but repository ${backup.repository} is not encrypted: it is not the file this backup wrote`,
      );
    }
    const encrypted = isLuksQcow2(disk.file) && (await isEncryptedRepository(backup.repository));
    const identity =
      encrypted && manifest.identity !== undefined ? identityMismatch(disk.file, manifest.identity) : undefined;
    if (identity !== undefined) return found(identity);
    const unbound = encrypted && (manifest.mac === undefined || manifest.identity === undefined);
    const owned = unbound && claims !== undefined ? await ownedElsewhere(claims, backup, disk) : undefined;
    if (owned !== undefined) return found(owned);
    const parentFile = parent?.disks.find((candidate) => candidate.diskKey === disk.diskKey)?.file;
    const link = qcow2HeaderProblem(disk.file) === undefined ? backingProblem(disk.file, parentFile) : undefined;
    if (link !== undefined) return found(`not linked to its parent: ${link}`);
    const check = () =>
      verifyLayer(disk.file, manifest, {
        onSpawn: (pid, argv, startTicks) =>
          store.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid)).then(() => undefined),
        onForget: (pid) => store.forgetProcess(pid),
      });
    // A read that failed (its qemu-nbd killed, say) is tried once more before it counts as damage:
    // damage is what the file says every time, not what happened to a reader once.
    const result = await check().catch((error: unknown) => {
      if (!isSendenseError(error) || error.exitCode === 2) throw error;
      return check();
    });
    if (!unbound || claims === undefined || result.busy !== undefined || result.findings.length > 0) return result;
    const bound = { ...manifest, identity: readLuksIdentity(disk.file) };
    if (bound.identity === undefined) return found(`its LUKS header cannot be read`);
    await writeManifest(manifestPath(disk.file), bound);
    await claims.claimed(backup.repository, bound.identity, manifestPath(disk.file));
    return { ...result, authenticated: true };
  } catch (error) {
    // A key that does not open the file (exit 2) says nothing about the file: never damage.
    if (!isSendenseError(error) || error.exitCode === 2) throw error;
    return found(error.message);
  }
}

// Why `disk`'s file may be another point's: an authenticated manifest, or another file, has its LUKS header.
async function ownedElsewhere(claims: IdentityClaims, backup: Backup, disk: BackupDisk): Promise<string | undefined> {
  const identity = readLuksIdentity(disk.file);
  if (identity === undefined) return `its LUKS header cannot be read`;
  const others = await claims.othersClaiming(backup.repository, identity, {
    file: disk.file,
    manifest: manifestPath(disk.file),
  });
  if (others.length === 0) return undefined;
  return `its LUKS header (UUID ${identity.luksUuid}) is also ${others.join(' and ')}: it is a copy of another point's file, not this backup's, and its manifest was not authenticated`;
}

// What keeps a VM's backups from being judged now: a merge recorded for it (going on, or left by a crash).
async function mergeUnderWay(store: Store, vm: string): Promise<string | undefined> {
  try {
    await refuseUnfinishedMerge(store, vm, 'verify');
    return undefined;
  } catch (error) {
    if (!isSendenseError(error)) throw error;
    return error.message;
  }
}

// The backup's record after its files were read: gone or moved onto another parent by a merge.
async function changedMeanwhile(store: Store, backup: Backup): Promise<string | undefined> {
  const now = await store.getBackup(backup.id);
  if (now !== undefined && now.parentId === backup.parentId && now.type === backup.type) return undefined;
  return `a merge changed backup ${backup.id} while it was read: verify it again`;
}

// A damaged backup whose own files match their manifests again: complete once more when what it
// stands on is complete; else still damaged, because of its parent.
async function clearIfSound(
  store: Store,
  backup: Backup,
  damaged: Set<string>,
  cleared: string[],
  report: (event: VerifyEvent) => void,
): Promise<void> {
  const parent = backup.parentId === null ? undefined : await store.getBackup(backup.parentId);
  if (parent !== undefined && (parent.status !== 'complete' || damaged.has(parent.id))) {
    damaged.add(backup.id);
    report({
      type: 'still-damaged',
      backupId: backup.id,
      vm: backup.vm,
      because: `its own files match their manifests, but it stands on backup ${parent.id}, which is ${parent.status}`,
    });
    return;
  }
  await store.clearDamage(backup.id);
  cleared.push(backup.id);
  report({ type: 'cleared', backupId: backup.id, vm: backup.vm, was: backup.damage ?? 'damaged' });
}

// A manifest that speaks of another backup, disk or parent is a repository mixed up, not this file's.
function manifestMismatch(
  manifest: Awaited<ReturnType<typeof readManifest>>,
  backup: Backup,
  diskKey: number,
): string | undefined {
  if (manifest.backupId !== backup.id || manifest.diskKey !== diskKey)
    return `manifest names backup ${manifest.backupId} disk ${manifest.diskKey}`;
  if (manifest.parentId !== backup.parentId)
    return `manifest names parent ${manifest.parentId ?? 'none'}, the database ${backup.parentId ?? 'none'}`;
  if (manifest.file !== path.basename(backup.disks.find((disk) => disk.diskKey === diskKey)?.file ?? ''))
    return `manifest names file ${manifest.file}`;
  return undefined;
}

// Every backup standing on `id`, directly or through others (`backups` oldest first).
export function descendants(backups: readonly Backup[], id: string): string[] {
  const found: string[] = [];
  const parents = new Set([id]);
  for (const backup of backups) {
    if (backup.parentId !== null && parents.has(backup.parentId)) {
      found.push(backup.id);
      parents.add(backup.id);
    }
  }
  return found;
}
