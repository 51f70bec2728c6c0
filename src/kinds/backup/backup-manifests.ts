// The manifests of a backup run's new files, written before the backup is recorded complete (a
// backup is complete only when its manifests are); a failed run removes them with its files.

import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BackupRun } from './backup-run.js';
import { SendenseError } from '../../errors.js';
import {
  manifestPath,
  normalizeDigests,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type DiskManifest,
} from '../../repository/manifest.js';
import { writeManifest } from '../../repository/manifest-file.js';
import { identityToRecord } from '../../repository/layer-identity.js';
import { makePrivateDirs } from '../../repository/private-dirs.js';
import { backupSource } from '../../source/index.js';
import { domainDefinitionFile } from '../../repository/layout.js';

export async function writeBackupManifests(run: BackupRun): Promise<void> {
  const { state, plan } = run;
  const backup = await run.store.getBackup(state.backupId);
  if (backup === undefined) throw new Error(`writeBackupManifests: backup ${state.backupId} is not recorded`);
  const completedAt = new Date().toISOString();
  const { reportsDigests } = backupSource(plan.vm.source);
  for (const disk of state.disks) {
    const record = backup.disks.find((d) => d.diskKey === disk.key);
    // Our node transfer always reports what it wrote; its silence would be a manifest that proves nothing.
    if (disk.written === undefined && reportsDigests) {
      throw new SendenseError(`the transfer reported no digests for disk ${disk.key}`, {
        step: 'record-change-ids',
        disk: disk.key,
      });
    }
    const manifest: DiskManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      vm: plan.vm.name,
      diskKey: disk.key,
      backupId: state.backupId,
      type: state.type,
      chainId: state.chainId,
      parentId: state.parentId ?? null,
      parentFile: disk.parentFile ? path.basename(disk.parentFile) : null,
      plan: plan.name,
      changeId: disk.changeId ?? null,
      bitmap: record?.bitmap ?? null,
      source: record?.source ?? '',
      sourceNode: record?.sourceNode ?? '',
      startedAt: backup.startedAt,
      completedAt,
      virtualSize: disk.virtualSize,
      bytes: disk.bytes ?? 0,
      file: path.basename(disk.file),
      digests: disk.written === undefined ? null : normalizeDigests(disk.written),
      identity: identityToRecord(disk.file),
      ...(disk.sample !== undefined && { sample: disk.sample }),
    };
    const file = manifestPath(disk.file);
    // Registered before writing: a failed run leaves no manifest of a backup that is not complete.
    run.undo.push({
      what: `delete ${file}`,
      when: 'failure',
      step: 'record-change-ids',
      run: () => rm(file, { force: true }),
    });
    await writeManifest(file, manifest);
  }
}

// The VM's own definition at this point (a libvirt domain's XML), 0600 like the data: written
// before the backup is complete, removed with its files if the run fails.
export async function writeDomainDefinition(run: BackupRun): Promise<void> {
  const { state, plan } = run;
  if (state.definition === undefined) return;
  const file = domainDefinitionFile(plan.repository.path, plan.vm.name, state.backupId);
  // Never through a symlink put under its name or its folder's by whoever can write the repository (docs/threat-model.md).
  await makePrivateDirs(path.dirname(file), plan.repository.path);
  run.undo.push({
    what: `delete ${file}`,
    when: 'failure',
    step: 'record-change-ids',
    run: () => rm(file, { force: true }),
  });
  const handle = await open(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  ).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ELOOP') throw error;
    throw new SendenseError(`${file} is a symlink, which is not followed: the domain's definition was not written`, {
      step: 'record-change-ids',
    });
  });
  try {
    await handle.chmod(0o600);
    await handle.writeFile(state.definition);
  } finally {
    await handle.close();
  }
}
