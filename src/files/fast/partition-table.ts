// A disk's partition table read by ourselves (docs/file-level-restore.md#the-fast-path): MBR primary
// partitions and GPT entries, each with its offset, size and type, numbered as Linux (and so the
// appliance's /dev/sdaN, our pN) numbers them. Bounded: at most 128 GPT entries of at most 512
// bytes, and a partition that does not lie inside the disk is left out.

const SECTOR = 512;
const GPT_SIGNATURE = 'EFI PART';
const MAX_GPT_ENTRIES = 128;
const MAX_GPT_ENTRY_SIZE = 512;
const MBR_PROTECTIVE = 0xee;
// Extended partitions hold logical ones (p5…), which this reader does not follow: the appliance does.
const MBR_EXTENDED = new Set([0x05, 0x0f, 0x85]);

export interface Partition {
  /** 1-based, as /dev/sdaN. */
  readonly number: number;
  readonly offset: number;
  readonly size: number;
  /** MBR: the type byte as two hex digits ("83"); GPT: the type GUID, lower case. */
  readonly type: string;
}

export interface PartitionTable {
  readonly kind: 'gpt' | 'msdos' | 'none';
  readonly partitions: readonly Partition[];
  /** An MBR with an extended partition: its logical partitions are not listed here. */
  readonly hasLogical: boolean;
}

/** Reads `length` bytes at `offset` of the disk. */
export type ReadDisk = (offset: number, length: number) => Promise<Buffer>;

export async function readPartitionTable(read: ReadDisk, diskSize: number): Promise<PartitionTable> {
  if (diskSize < 2 * SECTOR) return { kind: 'none', partitions: [], hasLogical: false };
  const mbr = await read(0, SECTOR);
  if (mbr.readUInt16LE(510) !== 0xaa55) return { kind: 'none', partitions: [], hasLogical: false };
  const primaries = [0, 1, 2, 3].map((i) => {
    const entry = mbr.subarray(446 + i * 16, 446 + i * 16 + 16);
    return { number: i + 1, typeByte: entry[4], start: entry.readUInt32LE(8), sectors: entry.readUInt32LE(12) };
  });
  if (primaries.some((p) => p.typeByte === MBR_PROTECTIVE)) {
    const gpt = await readGpt(read, diskSize);
    // A protective MBR without a GPT we believe: no partition is trusted (the appliance judges).
    return { kind: gpt === undefined ? 'none' : 'gpt', partitions: gpt ?? [], hasLogical: false };
  }
  // A boot sector of a filesystem on the whole disk also ends in 55AA: only entries that fit count.
  const used = primaries.filter((p) => p.typeByte !== 0 && p.sectors > 0);
  if (used.length === 0 || used.some((p) => p.start === 0 || (p.start + p.sectors) * SECTOR > diskSize))
    return { kind: 'none', partitions: [], hasLogical: false };
  return {
    kind: 'msdos',
    partitions: used
      .filter((p) => !MBR_EXTENDED.has(p.typeByte))
      .map((p) => ({
        number: p.number,
        offset: p.start * SECTOR,
        size: p.sectors * SECTOR,
        type: p.typeByte.toString(16).padStart(2, '0'),
      })),
    hasLogical: used.some((p) => MBR_EXTENDED.has(p.typeByte)),
  };
}

async function readGpt(read: ReadDisk, diskSize: number): Promise<Partition[] | undefined> {
  const header = await read(SECTOR, SECTOR);
  if (header.toString('latin1', 0, 8) !== GPT_SIGNATURE) return undefined;
  const entriesLba = Number(header.readBigUInt64LE(72));
  const count = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  if (count === 0 || count > MAX_GPT_ENTRIES || entrySize < 128 || entrySize > MAX_GPT_ENTRY_SIZE || entrySize % 8)
    return undefined;
  if ((entriesLba + Math.ceil((count * entrySize) / SECTOR)) * SECTOR > diskSize) return undefined;
  const table = await read(entriesLba * SECTOR, count * entrySize);
  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const entry = table.subarray(i * entrySize, (i + 1) * entrySize);
    const type = guidText(entry.subarray(0, 16));
    if (type === '00000000-0000-0000-0000-000000000000') continue;
    const first = Number(entry.readBigUInt64LE(32));
    const last = Number(entry.readBigUInt64LE(40));
    if (first === 0 || last < first || (last + 1) * SECTOR > diskSize) continue;
    partitions.push({ number: i + 1, offset: first * SECTOR, size: (last - first + 1) * SECTOR, type });
  }
  return partitions;
}

// GPT GUIDs are stored mixed-endian: the first three fields little-endian.
function guidText(bytes: Buffer): string {
  const hex = (start: number, end: number, reverse: boolean) => {
    const part = Buffer.from(bytes.subarray(start, end));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}
