// Which points of an encrypted repository already own a LUKS header, for `verify --authenticate`
// (docs/encryption.md#what-an-attacker-cannot-plant): it binds a manifest to its file's header only
// when no authenticated manifest names that header and no other file of the repository carries it.
// A copy of another point's file carries that point's header; the copy is never vouched for.

import path from 'node:path';
import { isSendenseError } from '../errors.js';
import { readLuksIdentity, type LuksIdentity } from '../qemu/luks-identity.js';
import { readManifest } from '../repository/manifest-file.js';
import { listFolder } from '../repository/manifest-scan.js';

export class IdentityClaims {
  private readonly scans = new Map<string, Promise<Map<string, string[]>>>();

  /** Who but `file` and its own `manifest` claims `identity` in `repository`: "named by the authenticated manifest M", "carried by the file F". */
  async othersClaiming(
    repository: string,
    identity: LuksIdentity,
    own: { readonly file: string; readonly manifest: string },
  ): Promise<string[]> {
    const claims = (await this.scan(repository)).get(key(identity)) ?? [];
    const mine = [manifestClaim(path.resolve(own.manifest)), fileClaim(path.resolve(own.file))];
    return claims.filter((claim) => !mine.includes(claim));
  }

  /** `manifest` now names `identity` under its code. */
  async claimed(repository: string, identity: LuksIdentity, manifest: string): Promise<void> {
    const claims = await this.scan(repository);
    const list = claims.get(key(identity)) ?? [];
    const claim = manifestClaim(path.resolve(manifest));
    if (!list.includes(claim)) claims.set(key(identity), [...list, claim]);
  }

  private scan(repository: string): Promise<Map<string, string[]>> {
    const root = path.resolve(repository);
    let scan = this.scans.get(root);
    if (scan === undefined) {
      scan = scanClaims(root);
      this.scans.set(root, scan);
    }
    return scan;
  }
}

// Every <vm>/disk-<key>/ folder: each authenticated manifest's identity, and each file's LUKS header.
async function scanClaims(repository: string): Promise<Map<string, string[]>> {
  const claims = new Map<string, string[]>();
  const add = (identity: LuksIdentity, claim: string) =>
    claims.set(key(identity), [...(claims.get(key(identity)) ?? []), claim]);
  for (const vm of await listFolder(repository)) {
    for (const diskDir of (await listFolder(path.join(repository, vm))).filter((name) => /^disk-\d+$/.test(name))) {
      const dir = path.join(repository, vm, diskDir);
      for (const name of (await listFolder(dir)).filter((entry) => !entry.startsWith('.'))) {
        const file = path.join(dir, name);
        if (name.endsWith('.qcow2')) {
          const identity = readLuksIdentity(file);
          if (identity !== undefined) add(identity, fileClaim(file));
        } else if (name.endsWith('.json')) {
          const identity = await authenticatedIdentity(file);
          if (identity !== undefined) add(identity, manifestClaim(file));
        }
      }
    }
  }
  return claims;
}

// Only a manifest whose code checks speaks for a header: anyone can write a claim into one without it.
async function authenticatedIdentity(file: string): Promise<LuksIdentity | undefined> {
  try {
    return (await readManifest(file)).identity;
  } catch (error) {
    if (!isSendenseError(error) || error.exitCode === 2) throw error;
    return undefined;
  }
}

function key(identity: LuksIdentity): string {
  return `${identity.luksUuid} ${identity.luksHeader}`;
}

function manifestClaim(file: string): string {
  return `named by the authenticated manifest ${file}`;
}

function fileClaim(file: string): string {
  return `carried by the file ${file}`;
}
