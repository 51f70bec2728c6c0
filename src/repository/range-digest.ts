// The digest of one written range, as the node transfer records it in a manifest (SPEC section 9)
// and as verify and restore check it.
//
// New backups use XXH3-128 (xxh128): it finds what integrity checks are for (bit rot, a torn or
// truncated write, a block from another file, a flipped bit in qcow2 metadata) and costs a small
// part of the copy. SHA-256 on this hardware hashes ~0.4-1.4 GB/s per core, which made a full
// backup 46-53% slower on two cores (bench/manifest.js); XXH3 in WebAssembly does several GB/s.
// A cryptographic digest would not stop someone who can write the repository either: they can
// rewrite the manifest beside the file. Manifests written with sha256 (the first ones) still
// verify: the algorithm is recorded in each manifest and every name below is accepted.

import { webcrypto } from 'node:crypto';
import { createXXHash128, type IHasher } from 'hash-wasm';

export const RANGE_DIGEST_ALGORITHM = 'xxh128';

const WEBCRYPTO_NAMES: Readonly<Record<string, string>> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

export function isKnownDigestAlgorithm(algorithm: string): boolean {
  return algorithm === RANGE_DIGEST_ALGORITHM || algorithm in WEBCRYPTO_NAMES;
}

let xxh128: Promise<IHasher> | undefined;

// Hex digest of `bytes`. xxh128 runs at once on this thread (the hasher is reused: nothing else
// runs between its init and digest); the SHA family runs on the libuv thread pool.
export async function rangeDigest(algorithm: string, bytes: Uint8Array): Promise<string> {
  if (algorithm === RANGE_DIGEST_ALGORITHM) {
    const hasher = await (xxh128 ??= createXXHash128());
    return hasher.init().update(bytes).digest('hex');
  }
  const name = WEBCRYPTO_NAMES[algorithm];
  if (name === undefined) throw new Error(`unknown digest algorithm ${algorithm}`);
  return Buffer.from(await webcrypto.subtle.digest(name, bytes)).toString('hex');
}
