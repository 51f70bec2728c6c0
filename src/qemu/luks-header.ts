// The LUKS1 header of a new encrypted layer (docs/encryption.md#how-layers-are-made), as QEMU's
// crypto/block-luks.c lays it out for encrypt.format=luks with its defaults (aes-256, xts-plain64,
// sha256, 4000 stripes, keyslots aligned to 4 KiB), but with fixed PBKDF2 iteration counts: the
// passphrase is the repository's random 256-bit secret, which needs no stretching.

import { createCipheriv, createHash, pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';

const SECTOR = 512;
const MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
const VERSION = 1;
const CIPHER = 'aes';
const CIPHER_MODE = 'xts-plain64';
const HASH = 'sha256';
const HASH_BYTES = 32;
/** AES-256-XTS takes two 256-bit keys: the master key is 64 bytes. */
const KEY_BYTES = 64;
const STRIPES = 4000;
const SLOTS = 8;
const SLOT_ENABLED = 0x00ac71f3;
const SLOT_DISABLED = 0x0000dead;
const DIGEST_BYTES = 20;
const SALT_BYTES = 32;
/** The first keyslot's key material starts 4 KiB in; each slot's is rounded up to 4 KiB. */
const KEYSLOT_ALIGN = 4096;
/**
 * PBKDF2 rounds of the keyslot and of the master key digest: QEMU's own floor for both
 * (QCRYPTO_BLOCK_LUKS_MIN_SLOT_KEY_ITERS, ..._MIN_MASTER_KEY_ITERS), about a millisecond each.
 */
export const LUKS_ITERATIONS = 1000;

const SPLIT_KEY_BYTES = KEY_BYTES * STRIPES;
const SLOT_SECTORS = Math.ceil(SPLIT_KEY_BYTES / KEYSLOT_ALIGN) * (KEYSLOT_ALIGN / SECTOR);
const FIRST_SLOT_SECTOR = KEYSLOT_ALIGN / SECTOR;
const PAYLOAD_SECTORS = FIRST_SLOT_SECTOR + SLOTS * SLOT_SECTORS;
/** The bytes of a LUKS header with its eight keyslots' key material (QEMU's payload offset). */
export const LUKS_HEADER_BYTES = PAYLOAD_SECTORS * SECTOR;

// Field offsets of the LUKS1 on-disk format ("LUKS On-Disk Format Specification", version 1.2.3).
const AT = {
  version: 6,
  cipherName: 8,
  cipherMode: 40,
  hashSpec: 72,
  payloadOffset: 104,
  keyBytes: 108,
  mkDigest: 112,
  mkDigestSalt: 132,
  mkDigestIterations: 164,
  uuid: 168,
  keyslots: 208,
} as const;
const KEYSLOT_BYTES = 48;

/**
 * A LUKS1 header (LUKS_HEADER_BYTES) whose keyslot 0 holds a fresh random master key under
 * `passphrase`; the other seven slots are disabled. The master key lives only in this call.
 */
export function luksHeader(passphrase: Buffer): Buffer {
  const header = Buffer.alloc(LUKS_HEADER_BYTES);
  const masterKey = randomBytes(KEY_BYTES);
  try {
    MAGIC.copy(header, 0);
    header.writeUInt16BE(VERSION, AT.version);
    header.write(CIPHER, AT.cipherName, 'latin1');
    header.write(CIPHER_MODE, AT.cipherMode, 'latin1');
    header.write(HASH, AT.hashSpec, 'latin1');
    header.writeUInt32BE(PAYLOAD_SECTORS, AT.payloadOffset);
    header.writeUInt32BE(KEY_BYTES, AT.keyBytes);
    const digestSalt = randomBytes(SALT_BYTES);
    pbkdf2Sync(masterKey, digestSalt, LUKS_ITERATIONS, DIGEST_BYTES, HASH).copy(header, AT.mkDigest);
    digestSalt.copy(header, AT.mkDigestSalt);
    header.writeUInt32BE(LUKS_ITERATIONS, AT.mkDigestIterations);
    header.write(randomUUID(), AT.uuid, 'latin1');
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = AT.keyslots + slot * KEYSLOT_BYTES;
      header.writeUInt32BE(slot === 0 ? SLOT_ENABLED : SLOT_DISABLED, at);
      header.writeUInt32BE(FIRST_SLOT_SECTOR + slot * SLOT_SECTORS, at + 40);
      header.writeUInt32BE(STRIPES, at + 44);
    }
    const slotSalt = randomBytes(SALT_BYTES);
    header.writeUInt32BE(LUKS_ITERATIONS, AT.keyslots + 4);
    slotSalt.copy(header, AT.keyslots + 8);
    const slotKey = pbkdf2Sync(passphrase, slotSalt, LUKS_ITERATIONS, KEY_BYTES, HASH);
    const material = afSplit(masterKey);
    encryptSectors(slotKey, material).copy(header, FIRST_SLOT_SECTOR * SECTOR);
    slotKey.fill(0);
    material.fill(0);
    return header;
  } finally {
    masterKey.fill(0);
  }
}

// The anti-forensic splitter (LUKS1 spec "AF-Splitter", QEMU's crypto/afsplit.c): STRIPES blocks
// of which all but the last are random, the last the key XOR the diffused XOR of the others.
function afSplit(key: Buffer): Buffer {
  const out = randomBytes(SPLIT_KEY_BYTES);
  const block = Buffer.alloc(KEY_BYTES);
  for (let stripe = 0; stripe < STRIPES - 1; stripe++) {
    xorInto(block, out.subarray(stripe * KEY_BYTES, (stripe + 1) * KEY_BYTES));
    diffuse(block);
  }
  const last = out.subarray((STRIPES - 1) * KEY_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) last[i] = block[i]! ^ key[i]!;
  block.fill(0);
  return out;
}

function xorInto(target: Buffer, other: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i]! ^= other[i]!;
}

// Each digest-sized piece replaced by the hash of its big-endian index and itself.
function diffuse(block: Buffer): void {
  const index = Buffer.alloc(4);
  for (let piece = 0; piece * HASH_BYTES < block.length; piece++) {
    const start = piece * HASH_BYTES;
    const end = Math.min(start + HASH_BYTES, block.length);
    index.writeUInt32BE(piece);
    createHash(HASH)
      .update(index)
      .update(block.subarray(start, end))
      .digest()
      .copy(block, start, 0, end - start);
  }
}

// AES-256-XTS with plain64 IVs (the sector number, little-endian), sectors counted from the start
// of the key material, as QEMU decrypts it.
function encryptSectors(key: Buffer, data: Buffer): Buffer {
  const out = Buffer.alloc(data.length);
  const iv = Buffer.alloc(16);
  for (let sector = 0; sector * SECTOR < data.length; sector++) {
    iv.writeBigUInt64LE(BigInt(sector));
    const cipher = createCipheriv('aes-256-xts', key, iv);
    const start = sector * SECTOR;
    const encrypted = Buffer.concat([cipher.update(data.subarray(start, start + SECTOR)), cipher.final()]);
    encrypted.copy(out, start);
  }
  return out;
}
