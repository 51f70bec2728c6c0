// A FAT directory's entries as Linux's vfat mount shows them (what the appliance lists): the long
// (VFAT) name when its slots and checksum hold, else the 8.3 name shown as `shortname=mixed` shows
// it; mode 0777 less the mount's umask (022), write bits off for a read-only file; times as
// fs/fat/misc.c reads them (mtime to 2 s, atime its date only, the kernel's zone UTC); a folder's size
// its chain's. Only the sandboxed FAT walker (./fat-walker.ts) runs this.
// docs/file-level-restore.md#the-fast-path

import { FatNotForFastPath } from './fat-volume.js';

const ATTR_RO = 0x01;
const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_LONG = 0x0f;
const DELETED = 0xe5;
const CASE_LOWER_BASE = 0x08;
const CASE_LOWER_EXT = 0x10;
// The appliance mounts as root with umask 022: fmask = dmask = 022.
const UMASK = 0o022;
// fs/fat/misc.c: days before each month (months 13-15 count none), days from 1970 to 1980.
const DAYS_BEFORE = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 0, 0, 0];
const DAYS_1970_TO_1980 = 365 * 10 + 2;
const YEAR_2100 = 120;

export interface FatEntry {
  /** The name as the mount shows it, UTF-8 bytes. */
  readonly name: Buffer;
  readonly directory: boolean;
  /** The size the entry says (a folder's is its chain's, filled in by the walker). */
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly atime: number;
  readonly firstCluster: number;
}

/** Every entry of a directory's bytes (deleted, free, volume-label, `.` and `..` ones left out). */
export function directoryEntries(bytes: Buffer, fat32: boolean): FatEntry[] {
  const entries: FatEntry[] = [];
  let long: { slots: Buffer[]; checksum: number; next: number } | undefined;
  for (let at = 0; at + 32 <= bytes.length; at += 32) {
    const raw = bytes.subarray(at, at + 32);
    const attr = raw[11];
    // Linux reads on past a free (0x00) entry to the directory's end: so do we.
    if (attr === ATTR_LONG) {
      long = longSlot(raw, long);
      continue;
    }
    const slots = long;
    long = undefined;
    if (raw[0] === 0 || raw[0] === DELETED || attr & ATTR_VOLUME) continue;
    const short = raw.subarray(0, 11);
    const hasLong = slots !== undefined && slots.next === 0 && slots.checksum === shortChecksum(short);
    const name = hasLong ? longName(slots.slots) : shortName(short, raw[12]);
    if (name === undefined || name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) continue;
    const directory = (attr & ATTR_DIR) !== 0;
    let mode = 0o777;
    if (attr & ATTR_RO && !directory) mode &= ~0o222;
    entries.push({
      name,
      directory,
      size: raw.readUInt32LE(28),
      mode: mode & ~UMASK,
      mtime: fatTime(raw.readUInt16LE(22), raw.readUInt16LE(24)),
      atime: fatTime(0, raw.readUInt16LE(18)),
      firstCluster: (fat32 ? raw.readUInt16LE(20) << 16 : 0) + raw.readUInt16LE(26),
    });
  }
  return entries;
}

/** The root's and any folder's mode. */
export const DIRECTORY_MODE = 0o777 & ~UMASK;

// A long-name slot: the first (0x40) starts a name of N slots, each next one counts down to 1.
function longSlot(raw: Buffer, long: { slots: Buffer[]; checksum: number; next: number } | undefined) {
  const id = raw[0];
  if (id & 0x40) {
    const count = id & ~0x40 & 0xff;
    if (count === 0 || count > 20) return undefined;
    return { slots: [raw], checksum: raw[13], next: count - 1 };
  }
  if (long === undefined || id !== long.next || raw[13] !== long.checksum || long.next === 0) return undefined;
  return { slots: [raw, ...long.slots], checksum: long.checksum, next: long.next - 1 };
}

// The slots' UTF-16 (13 units each, ending at 0x0000), as UTF-8.
function longName(slots: readonly Buffer[]): Buffer | undefined {
  const units: number[] = [];
  for (const slot of slots)
    for (const at of [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]) units.push(slot.readUInt16LE(at));
  const end = units.indexOf(0);
  const name = String.fromCharCode(...(end < 0 ? units : units.slice(0, end)));
  // A lone surrogate: what Linux's utf16s_to_utf8s makes of it is the appliance's to say.
  if (name === '' || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name))
    throw new FatNotForFastPath();
  return Buffer.from(name, 'utf8');
}

// The 8.3 name as Linux shows it: base and extension trimmed, lower case where the NT case flags
// say, its bytes read in code page 437 (the kernel's default) as Unicode.
function shortName(short: Buffer, caseFlags: number): Buffer | undefined {
  const bytes = Buffer.from(short);
  if (bytes[0] === 0x05) bytes[0] = DELETED;
  if (bytes.some((byte) => byte < 0x20)) throw new FatNotForFastPath();
  const part = (from: number, to: number, lower: boolean) =>
    [...bytes.subarray(from, to)]
      .map((byte) => cp437(lower ? cp437Lower(byte) : byte))
      .join('')
      .replace(/ +$/, '');
  const base = part(0, 8, (caseFlags & CASE_LOWER_BASE) !== 0);
  const ext = part(8, 11, (caseFlags & CASE_LOWER_EXT) !== 0);
  if (base === '') return undefined;
  return Buffer.from(ext === '' ? base : `${base}.${ext}`, 'utf8');
}

// Code page 437's upper half (fs/nls/nls_cp437.c).
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
// nls_cp437's lower case of its upper-case letters (ASCII's besides).
const CP437_LOWER: Readonly<Record<number, number>> = {
  0x80: 0x87,
  0x8e: 0x84,
  0x8f: 0x86,
  0x90: 0x82,
  0x92: 0x91,
  0x99: 0x94,
  0x9a: 0x81,
  0xa5: 0xa4,
};

function cp437(byte: number): string {
  return byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
}

function cp437Lower(byte: number): number {
  if (byte >= 0x41 && byte <= 0x5a) return byte + 0x20;
  // Greek capitals: whether the kernel's table lowers them is the appliance's to say.
  if (byte >= 0xe0 && byte <= 0xef) throw new FatNotForFastPath();
  return CP437_LOWER[byte] ?? byte;
}

function shortChecksum(short: Buffer): number {
  let sum = 0;
  for (const byte of short) sum = (((sum & 1) << 7) + (sum >> 1) + byte) & 0xff;
  return sum;
}

// fs/fat/misc.c fat_time_fat2unix, literally (no zone: the appliance's kernel runs in UTC).
function fatTime(time: number, date: number): number {
  const year = date >> 9;
  const month = Math.max(1, (date >> 5) & 0xf);
  const day = Math.max(1, date & 0x1f) - 1;
  let leapDays = Math.floor((year + 3) / 4);
  if (year > YEAR_2100) leapDays--;
  if ((year & 3) === 0 && year !== YEAR_2100 && month > 2) leapDays++;
  const days = year * 365 + leapDays + DAYS_BEFORE[month] + day + DAYS_1970_TO_1980;
  return days * 86_400 + (time >> 11) * 3600 + ((time >> 5) & 0x3f) * 60 + (time & 0x1f) * 2;
}
