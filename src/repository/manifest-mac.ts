// The authentication code of a manifest in an encrypted repository (docs/encryption.md#what-an-attacker-cannot-plant):
// HMAC-SHA256 over the manifest's content under a key derived (HKDF-SHA256) from the repository
// secret, which is never stored in clear. Its digests are plain xxh64 anyone can recompute; the
// code is what says the manifest, and so the digests, were written by a holder of the secret.

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { DiskManifest } from './manifest.js';
import { repositorySecret } from './repository-keys.js';

const MAC_PREFIX = 'hmac-sha256:';
const MAC_INFO = 'sendense-run manifest mac v1';
const keys = new Map<string, Buffer>();

// One derivation per repository and process; the secret itself is unwrapped once (repository-keys.ts).
function macKey(repository: string): Buffer {
  let key = keys.get(repository);
  if (key === undefined) {
    key = Buffer.from(hkdfSync('sha256', repositorySecret(repository).passphrase, Buffer.alloc(0), MAC_INFO, 32));
    keys.set(repository, key);
  }
  return key;
}

/** `manifest` with its code under `repository`'s secret (any code it had is replaced). */
export function withManifestMac(manifest: DiskManifest, repository: string): DiskManifest {
  const { mac: _old, ...content } = manifest;
  return { ...content, mac: macOf(content, repository) };
}

/** Why `manifest` is not proven to be this repository's: no code, or a code its secret did not make. */
export function manifestMacProblem(manifest: DiskManifest, repository: string): string | undefined {
  const { mac, ...content } = manifest;
  if (mac === undefined)
    return `it carries no authentication code (written before manifests carried one: \`sendense-run verify --authenticate\` adds it to a backup whose file checks)`;
  const expected = Buffer.from(macOf(content, repository));
  const given = Buffer.from(String(mac));
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return 'its authentication code does not match its content: it was changed by someone without the repository key';
  return undefined;
}

function macOf(content: Omit<DiskManifest, 'mac'>, repository: string): string {
  return MAC_PREFIX + createHmac('sha256', macKey(repository)).update(canonical(content)).digest('hex');
}

// JSON with every object's keys sorted: the same content gives the same bytes whoever wrote it.
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
