// A backup disk file's manifest (docs/how-it-works.md#verification): `<backup-id>.json` beside `<backup-id>.qcow2`,
// holding what the database knows of it plus the digests of every range the transfer wrote into
// it. The repository alone can rebuild the state (catalog import) and check itself (verify).

import type { DiskKey } from '../plan/types.js';
import type { LuksIdentity } from '../qemu/luks-identity.js';
import type { BackupType } from '../store/records.js';

export const MANIFEST_FORMAT = 'sendense-backup-manifest';
export const MANIFEST_VERSION = 1;

/** The ranges written into this file: sorted by offset, adjacent zero ranges joined. */
export interface ManifestDigests {
  readonly algorithm: string;
  /** [guest offset, length, hex digest] of each data write. */
  readonly data: readonly (readonly [number, number, string])[];
  /** [guest offset, length] written as zeroes. */
  readonly zero: readonly (readonly [number, number])[];
}

export interface DiskManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  readonly vm: string;
  readonly diskKey: DiskKey;
  readonly backupId: string;
  readonly type: BackupType;
  readonly chainId: string;
  readonly parentId: string | null;
  /** The parent's file name in the repository (the overlay's backing file). */
  readonly parentFile: string | null;
  readonly plan: string;
  readonly changeId: string | null;
  /** The bitmap this backup added on the source (qemu sources). */
  readonly bitmap: string | null;
  readonly source: string;
  readonly sourceNode: string;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly virtualSize: number;
  /** Bytes the transfer moved (data and zeroes). */
  readonly bytes: number;
  /** The file's name beside this manifest. */
  readonly file: string;
  /** null: the program that wrote the data reported no digests (sendense-backup-client); only facts. */
  readonly digests: ManifestDigests | null;
  /**
   * 64 KiB blocks of the copied data sampled, and how many did not compress (docs/anomaly.md#what-is-measured).
   * Absent: the transfer measured none (the VMware client, manifests written before it was recorded).
   */
  readonly sample?: { readonly sampledBlocks: number; readonly incompressibleBlocks: number };
  /**
   * In an encrypted repository: the LUKS header of the file this manifest is for (docs/encryption.md#what-an-attacker-cannot-plant),
   * so another point's file put in its place is refused. Absent in manifests written before it was recorded.
   */
  readonly identity?: LuksIdentity;
  /** In an encrypted repository: HMAC-SHA256 of the rest under the repository secret (manifest-mac.ts). */
  readonly mac?: string;
}

// <dir>/<backup-id>.qcow2 -> <dir>/<backup-id>.json
export function manifestPath(file: string): string {
  return file.replace(/\.qcow2$/, '') + '.json';
}

// Sorted, zero ranges joined where they touch: one entry per data write, few zero entries.
export function normalizeDigests(written: ManifestDigests): ManifestDigests {
  const data = [...written.data].sort((a, b) => a[0] - b[0]);
  const zero: [number, number][] = [];
  for (const [offset, length] of [...written.zero].sort((a, b) => a[0] - b[0])) {
    const last = zero[zero.length - 1];
    if (last !== undefined && last[0] + last[1] === offset) last[1] += length;
    else zero.push([offset, length]);
  }
  return { algorithm: written.algorithm, data, zero };
}
