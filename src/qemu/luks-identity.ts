// Which LUKS header an encrypted qcow2 carries (docs/encryption.md#what-an-attacker-cannot-plant): its
// UUID and the SHA-256 of its 592-byte LUKS1 header, which holds the digest of the file's own data
// key. Found through the qcow2 "Full disk encryption header pointer" extension (qcow2.txt): 4 KiB
// of the first cluster and the LUKS header's first 592 bytes read, never the data.

import { createHash } from 'node:crypto';
import { readFileRange } from './qcow2-header.js';

const MAGIC = 0x514649fb; // "QFI\xfb"
const LUKS_CRYPT_METHOD = 2;
const EXT_CRYPTO_HEADER = 0x0537be77;
const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
// "LUKS On-Disk Format Specification" 1.2.3: the phdr up to and with its eight keyslot descriptors.
const PHDR_BYTES = 592;
const UUID_AT = 168;
const UUID_BYTES = 40;
// The extensions lie in the first cluster, right after the header: under 1 KB as QEMU and we write them.
const FIRST_READ_BYTES = 4096;
const MOST_EXTENSION_BYTES = 64 * 1024;

export interface LuksIdentity {
  /** The LUKS header's UUID, as the header spells it. */
  readonly luksUuid: string;
  /** "sha256:<hex>" of the LUKS1 phdr (PHDR_BYTES from its start). */
  readonly luksHeader: string;
}

/** The identity of `file`'s LUKS header; undefined when it is no LUKS qcow2 or its header cannot be read. */
export function readLuksIdentity(file: string): LuksIdentity | undefined {
  const head = readFileRange(file, 0, 104);
  if (head === undefined || head.length < 104 || head.readUInt32BE(0) !== MAGIC) return undefined;
  const clusterBits = head.readUInt32BE(20);
  if (head.readUInt32BE(32) !== LUKS_CRYPT_METHOD || head.readUInt32BE(4) < 3 || clusterBits < 9 || clusterBits > 21)
    return undefined;
  const most = Math.min(2 ** clusterBits, MOST_EXTENSION_BYTES);
  let whole = most <= FIRST_READ_BYTES;
  let extensions = readFileRange(file, 0, Math.min(most, FIRST_READ_BYTES));
  let at = head.readUInt32BE(100);
  while (extensions !== undefined) {
    // Extensions past the first read: read once more, up to the end of the first cluster.
    if (at + 8 > extensions.length || at + 8 + extensions.readUInt32BE(at + 4) > extensions.length) {
      if (whole) return undefined;
      extensions = readFileRange(file, 0, most);
      whole = true;
      continue;
    }
    const type = extensions.readUInt32BE(at);
    const length = extensions.readUInt32BE(at + 4);
    if (type === 0) return undefined;
    if (type === EXT_CRYPTO_HEADER && length >= 16) {
      const offset = extensions.readBigUInt64BE(at + 8);
      if (offset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      const phdr = readFileRange(file, Number(offset), PHDR_BYTES);
      return phdr === undefined ? undefined : phdrIdentity(phdr);
    }
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return undefined;
}

function phdrIdentity(phdr: Buffer): LuksIdentity | undefined {
  if (phdr.length < PHDR_BYTES || !phdr.subarray(0, LUKS_MAGIC.length).equals(LUKS_MAGIC)) return undefined;
  const uuid = phdr.subarray(UUID_AT, UUID_AT + UUID_BYTES);
  const end = uuid.indexOf(0);
  return {
    luksUuid: uuid.toString('latin1', 0, end === -1 ? UUID_BYTES : end),
    luksHeader: `sha256:${createHash('sha256').update(phdr).digest('hex')}`,
  };
}

export function sameLuksIdentity(a: LuksIdentity, b: LuksIdentity): boolean {
  return a.luksUuid === b.luksUuid && a.luksHeader === b.luksHeader;
}
