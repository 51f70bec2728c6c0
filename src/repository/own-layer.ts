// One backup file's own layer, without its backing chain (qemu's "backing": null): what that
// file itself holds, so a difference is found in the file that has it, not in its children.

import { L2_CACHE_BYTES } from '../qemu/image-opts.js';
import { SECRET_ID, secretObjectArgs, type ImageSecret } from '../qemu/image-secret.js';
import { plainFileProblem, secretForLayer } from './repository-keys.js';
import { SendenseError } from '../errors.js';
import { isLuksQcow2 } from '../qemu/qcow2-header.js';

export interface OwnLayer {
  /** A qemu filename (json: pseudo-protocol) that opens the file as qcow2 with no backing file. */
  readonly filename: string;
  /** The repository's secret when the file is encrypted (give it on fd 3, with objectArgs). */
  readonly secret?: ImageSecret;
  readonly objectArgs: readonly string[];
}

// With the small L2 cache of every qcow2 we open (qemu/image-opts.ts), and the key of an encrypted file.
export function ownLayer(file: string): OwnLayer {
  const plain = plainFileProblem(file);
  if (plain !== undefined) throw new SendenseError(plain);
  const secret = isLuksQcow2(file) ? secretForLayer(file) : undefined;
  const options = {
    driver: 'qcow2',
    'l2-cache-size': L2_CACHE_BYTES,
    ...(secret && { 'encrypt.key-secret': SECRET_ID }),
    backing: null,
    file: { driver: 'file', filename: file },
  };
  return { filename: `json:${JSON.stringify(options)}`, secret, objectArgs: secretObjectArgs(secret) };
}
