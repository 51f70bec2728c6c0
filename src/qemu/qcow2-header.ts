// A cheap look at a qcow2 file's header (one 104-byte read, qcow2 spec "Header"): enough to tell a
// destroyed or truncated file from a restorable one without reading its data.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MAGIC = 0x514649fb; // "QFI\xfb"
const CORRUPT_BIT = 2n; // incompatible_features bit 1: "corrupt" (v3)

// Undefined when the header looks sound, else what is wrong with it.
export function qcow2HeaderProblem(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `file missing or unreadable: ${file}`;
  }
  try {
    const fileSize = fstatSync(fd).size;
    const header = Buffer.alloc(104);
    const bytesRead = readSync(fd, header, 0, header.length, 0);
    if (bytesRead < 72) return `not a qcow2 image (${bytesRead} bytes): ${file}`;
    if (header.readUInt32BE(0) !== MAGIC) return `qcow2 header destroyed (bad magic): ${file}`;
    const version = header.readUInt32BE(4);
    if (version !== 2 && version !== 3) return `qcow2 header damaged (version ${version}): ${file}`;
    const clusterBits = header.readUInt32BE(20);
    if (clusterBits < 9 || clusterBits > 21) return `qcow2 header damaged (cluster_bits ${clusterBits}): ${file}`;
    const clusterSize = 2n ** BigInt(clusterBits);
    const l1Size = BigInt(header.readUInt32BE(36));
    const l1Offset = header.readBigUInt64BE(40);
    const refcountOffset = header.readBigUInt64BE(48);
    const length = BigInt(fileSize);
    if (l1Offset % clusterSize !== 0n || l1Offset + l1Size * 8n > length) return `qcow2 header damaged (L1 table outside the file): ${file}`;
    if (refcountOffset === 0n || refcountOffset % clusterSize !== 0n || refcountOffset >= length) {
      return `qcow2 header damaged (refcount table outside the file): ${file}`;
    }
    if (version === 3 && bytesRead >= 80 && (header.readBigUInt64BE(72) & CORRUPT_BIT) !== 0n) return `qcow2 image marked corrupt by qemu: ${file}`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}
