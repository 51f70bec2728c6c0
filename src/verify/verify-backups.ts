// Verifies stored backups against their manifests (SPEC section 9) and marks what differs: the
// backup whose own file differs and every backup built on it become 'damaged' (never restorable,
// never a parent). Each checked backup records the time of its verification.

import { existsSync } from 'node:fs';
import { manifestPath } from '../repository/manifest.js';
import { readManifest } from '../repository/manifest-file.js';
import { verifyLayer, type LayerFinding } from '../repository/verify-layer.js';
import { processStartTicks } from '../process/index.js';
import { isSendenseError } from '../errors.js';
import type { Backup, Store } from '../store/index.js';

export interface VerifySelection {
  readonly vm?: string;
  readonly backupId?: string;
  /** Only backups in this repository (kind: verify plans). */
  readonly repository?: string;
  /** Milliseconds: only backups not verified within this time (kind: verify plans' outdatedAfter). */
  readonly outdatedAfter?: number;
}

export type VerifyEvent =
  | { readonly type: 'disk'; readonly backupId: string; readonly vm: string; readonly disk: number; readonly ok: boolean; readonly digestsChecked: boolean; readonly bytesRead: number; readonly findings: readonly LayerFinding[] }
  | { readonly type: 'damaged'; readonly backupId: string; readonly vm: string; readonly because: string; readonly builtOnIt: readonly string[] }
  | { readonly type: 'unverifiable'; readonly backupId: string; readonly vm: string; readonly disk: number; readonly reason: string };

export interface VerifyOutcome {
  readonly checked: number;
  /** Backups with a file that has no manifest (taken before manifests existed): not judged. */
  readonly unverifiable: readonly string[];
  readonly damaged: readonly string[];
}

export async function verifyBackups(store: Store, runId: string, selection: VerifySelection, report: (event: VerifyEvent) => void): Promise<VerifyOutcome> {
  const all = await store.listBackups({ vm: selection.vm });
  const now = Date.now();
  const selected = all.filter(
    (backup) =>
      backup.status === 'complete' &&
      (selection.backupId === undefined || backup.id === selection.backupId) &&
      (selection.repository === undefined || backup.repository === selection.repository) &&
      (selection.outdatedAfter === undefined || backup.verifiedAt === null || now - Date.parse(backup.verifiedAt) >= selection.outdatedAfter),
  );
  const damaged = new Set<string>();
  const unverifiable: string[] = [];
  let checked = 0;
  for (const backup of selected) {
    // Already marked through a parent found damaged in this run.
    if (damaged.has(backup.id)) continue;
    const problems: string[] = [];
    // A backup taken before manifests existed has nothing to be checked against: said, never judged.
    const bare = backup.disks.find((disk) => existsSync(disk.file) && !existsSync(manifestPath(disk.file)));
    if (bare !== undefined) {
      unverifiable.push(backup.id);
      report({ type: 'unverifiable', backupId: backup.id, vm: backup.vm, disk: bare.diskKey, reason: `no manifest beside ${bare.file} (taken before manifests existed?)` });
      continue;
    }
    for (const disk of backup.disks) {
      let findings: readonly LayerFinding[];
      let digestsChecked = false;
      let bytesRead = 0;
      try {
        const manifest = await readManifest(manifestPath(disk.file));
        const mismatch = manifestMismatch(manifest, backup, disk.diskKey);
        if (mismatch !== undefined) findings = [{ message: mismatch }];
        else {
          const result = await verifyLayer(disk.file, manifest, {
            onSpawn: (pid, argv, startTicks) => store.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid)).then(() => undefined),
            onForget: (pid) => store.forgetProcess(pid),
          });
          ({ findings, digestsChecked, bytesRead } = result);
        }
      } catch (error) {
        if (!isSendenseError(error)) throw error;
        findings = [{ message: error.message }];
      }
      report({ type: 'disk', backupId: backup.id, vm: backup.vm, disk: disk.diskKey, ok: findings.length === 0, digestsChecked, bytesRead, findings });
      for (const finding of findings) problems.push(`disk ${disk.diskKey}: ${finding.message}`);
    }
    checked++;
    await store.recordVerification(backup.id, new Date().toISOString());
    if (problems.length === 0) continue;
    const builtOnIt = descendants(all, backup.id);
    const because = `verify ${new Date().toISOString()}: ${problems.join('; ')}`;
    await store.markDamaged([backup.id], because);
    await store.markDamaged(builtOnIt, `built on damaged backup ${backup.id}`);
    for (const id of [backup.id, ...builtOnIt]) damaged.add(id);
    report({ type: 'damaged', backupId: backup.id, vm: backup.vm, because: problems.join('; '), builtOnIt });
  }
  return { checked, unverifiable, damaged: [...damaged] };
}

// A manifest that speaks of another backup, disk or parent is a repository mixed up, not this file's.
function manifestMismatch(manifest: Awaited<ReturnType<typeof readManifest>>, backup: Backup, diskKey: number): string | undefined {
  if (manifest.backupId !== backup.id || manifest.diskKey !== diskKey) return `manifest names backup ${manifest.backupId} disk ${manifest.diskKey}`;
  if (manifest.parentId !== backup.parentId) return `manifest names parent ${manifest.parentId ?? 'none'}, the database ${backup.parentId ?? 'none'}`;
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
