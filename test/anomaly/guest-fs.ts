// A VM disk holding a real ext4 filesystem (mkfs.ext4 -d) with an ordinary mix of files, changed
// between backups the way a guest changes it: files written, appended, deleted with debugfs on a
// raw twin, and files encrypted in place with `openssl enc` (ransomware's way: the same blocks
// rewritten). Only the 64 KiB blocks a change touched are written into the qcow2 source
// (qemu-io write -s), so its dirty bitmaps see exactly that change.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const FS_BLOCK = 4096;
export const GUEST_DISK_BYTES = 96 * MiB;

export interface GuestFs {
  /** The VM's disk (qcow2), as the plan names it. */
  readonly source: string;
  /** Its raw twin, which the changes are made in first. */
  readonly raw: string;
  readonly work: string;
}

// Reproducible bytes that read like text (words from a small list).
export function textOf(seed: string, bytes: number): Buffer {
  const words = ['the', 'backup', 'of', 'disk', 'error', 'ok', 'user', 'request', 'GET', '/index.html', '200', 'info'];
  const parts: string[] = [];
  let length = 0;
  for (let index = 0; length < bytes; index++) {
    const digest = createHash('sha256').update(`${seed}:${index}`).digest();
    const line = `${seed} ${index} ${[...digest.subarray(0, 8)].map((b) => words[b % words.length]).join(' ')}\n`;
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

// Reproducible bytes that read like a program (a small alphabet, repeated structure).
export function binaryOf(seed: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += 32) {
    const digest = createHash('sha256')
      .update(`${seed}:${at >> 10}`)
      .digest();
    for (let i = 0; i < 32 && at + i < bytes; i++) out[at + i] = (digest[i % 4]! & 0x1f) + (i % 8 === 0 ? 0x48 : 0);
  }
  return out;
}

export interface GuestFsOptions {
  /** The disk's size (default GUEST_DISK_BYTES). */
  readonly diskBytes?: number;
  /** Adds more files to the first filesystem's tree (root: a host folder mkfs copies in). */
  readonly populate?: (root: string) => void;
}

// The first filesystem: logs, documents, programs, one gzip archive.
export function makeGuestFs(work: string, options: GuestFsOptions = {}): GuestFs {
  const root = path.join(work, 'root');
  mkdirSync(path.join(root, 'var/log'), { recursive: true });
  mkdirSync(path.join(root, 'home/docs'), { recursive: true });
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  writeFileSync(path.join(root, 'var/log/syslog'), textOf('syslog', 2 * MiB));
  for (let index = 0; index < 24; index++)
    writeFileSync(path.join(root, `home/docs/doc-${index}.txt`), textOf(`doc-${index}`, MiB));
  for (let index = 0; index < 4; index++)
    writeFileSync(path.join(root, `usr/bin/tool-${index}`), binaryOf(`tool-${index}`, 2 * MiB));
  writeFileSync(path.join(root, 'home/archive.txt'), textOf('archive', 2 * MiB));
  execFileSync('gzip', ['-1', path.join(root, 'home/archive.txt')]);
  options.populate?.(root);
  const raw = path.join(work, 'guest.raw');
  execFileSync('truncate', ['-s', String(options.diskBytes ?? GUEST_DISK_BYTES), raw]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', String(FS_BLOCK), '-E', 'nodiscard', '-d', root, raw], {
    stdio: 'ignore',
  });
  const source = path.join(work, 'disk0.qcow2');
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, source]);
  return { source, raw, work };
}

/** Files of the guest's document folder, in the filesystem: `/home/docs/doc-N.txt`. */
export const DOCUMENTS = Array.from({ length: 24 }, (_, index) => `/home/docs/doc-${index}.txt`);

// Runs debugfs commands on the raw twin (-w: writable), one per line on stdin.
export function debugfs(guest: GuestFs, commands: readonly string[], writable = true): string {
  return execFileSync('debugfs', [...(writable ? ['-w'] : []), '-f', '-', guest.raw], {
    input: `${commands.join('\n')}\n`,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
  });
}

/** An ordinary day: the log grows, a document is rewritten, a new file arrives, one is deleted. */
export function ordinaryChange(guest: GuestFs, day: number): void {
  change(guest, () => {
    const incoming = path.join(guest.work, 'incoming');
    const log = path.join(guest.work, 'syslog');
    writeFileSync(log, Buffer.concat([textOf('syslog', 2 * MiB), textOf(`syslog-day-${day}`, 256 * 1024)]));
    writeFileSync(incoming, textOf(`note-${day}`, 384 * 1024));
    debugfs(guest, [
      'rm /var/log/syslog',
      `write ${log} /var/log/syslog`,
      `write ${incoming} /home/note-${day}.txt`,
      ...(day > 1 ? [`rm /home/note-${day - 1}.txt`] : []),
    ]);
  });
}

/** Any change made with debugfs commands (write, rm, mkdir), as the guest would make it. */
export function editFs(guest: GuestFs, commands: readonly string[]): void {
  change(guest, () => debugfs(guest, commands));
}

// A file's content sealed with `openssl enc` (CTR: as long as the file, so it fits its own blocks).
function sealed(guest: GuestFs, file: string): string {
  const password = path.join(guest.work, 'attacker-password');
  writeFileSync(password, 'not a real key', { mode: 0o600 });
  const plain = path.join(guest.work, 'plain');
  const out = path.join(guest.work, 'sealed');
  debugfs(guest, [`dump ${file} ${plain}`], false);
  execFileSync('openssl', [
    'enc',
    '-aes-256-ctr',
    '-pbkdf2',
    '-nosalt',
    '-pass',
    `file:${password}`,
    '-in',
    plain,
    '-out',
    out,
  ]);
  return out;
}

/** Writes data over a file's own blocks, in place (as a database or an in-place encryptor does). */
function overwriteBlocks(guest: GuestFs, image: Buffer, file: string, data: Buffer): void {
  // `-f -` echoes each command as "debugfs: …" before its answer: only the answer is block numbers.
  const blocks = debugfs(guest, [`blocks ${file}`], false)
    .split('\n')
    .filter((line) => !line.startsWith('debugfs:'))
    .join(' ')
    .trim()
    .split(/\s+/)
    .map(Number);
  if (blocks.some((block) => !Number.isInteger(block))) throw new Error(`no block list for ${file}`);
  blocks.forEach((block, index) => {
    data.subarray(index * FS_BLOCK, (index + 1) * FS_BLOCK).copy(image, block * FS_BLOCK);
  });
}

/** Ransomware: each named file's content encrypted with `openssl enc` and written over its own blocks. */
export function encryptInPlace(guest: GuestFs, files: readonly string[]): void {
  change(guest, () => {
    const image = readFileSync(guest.raw);
    for (const file of files) overwriteBlocks(guest, image, file, readFileSync(sealed(guest, file)));
    writeFileSync(guest.raw, image);
  });
}

/** Ransomware, the other way: an encrypted copy written as FILE.locked, then the original deleted. */
export function encryptAndDelete(guest: GuestFs, files: readonly string[]): void {
  change(guest, () => {
    for (const file of files) {
      const out = sealed(guest, file);
      debugfs(guest, [`write ${out} ${file}.locked`, `rm ${file}`]);
    }
  });
}

/** A file rewritten in place with new content of the same length (a database's pages). */
export function overwriteInPlace(guest: GuestFs, file: string, data: Buffer): void {
  change(guest, () => {
    const image = readFileSync(guest.raw);
    overwriteBlocks(guest, image, file, data);
    writeFileSync(guest.raw, image);
  });
}

/** The guest's disk put back to an earlier copy of its raw twin (the operator restoring files). */
export function resetTo(guest: GuestFs, rawCopy: string): void {
  change(guest, () => writeFileSync(guest.raw, readFileSync(rawCopy)));
}

// Makes a change in the raw twin, then writes the 64 KiB blocks it touched into the qcow2 source.
function change(guest: GuestFs, edit: () => void): void {
  const before = readFileSync(guest.raw);
  edit();
  const after = readFileSync(guest.raw);
  const commands: string[] = [];
  for (let at = 0; at < after.length;) {
    if (after.subarray(at, at + BLOCK).equals(before.subarray(at, at + BLOCK))) {
      at += BLOCK;
      continue;
    }
    let end = at + BLOCK;
    while (end < after.length && !after.subarray(end, end + BLOCK).equals(before.subarray(end, end + BLOCK)))
      end += BLOCK;
    const piece = path.join(guest.work, `piece-${commands.length}`);
    writeFileSync(piece, after.subarray(at, end));
    commands.push('-c', `write -q -s ${piece} ${at} ${end - at}`);
    at = end;
  }
  if (commands.length > 0) execFileSync('qemu-io', ['-f', 'qcow2', ...commands, guest.source]);
}
