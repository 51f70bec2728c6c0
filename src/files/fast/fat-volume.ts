// A FAT12/16/32 volume read from its bytes: the boot sector's geometry, the allocation table and a
// cluster chain, bounded (a chain that loops or leaves the volume is an error, not a hang). Only the
// sandboxed FAT walker (./fat-walker.ts) runs this: it parses guest bytes.
// docs/file-level-restore.md#the-fast-path

/** A damaged or crafted volume: one line, said by the walker. */
export class FatDamage extends Error {}

/** What the walker leaves to the appliance (a short name in a code page, a name not found as bytes). */
export class FatNotForFastPath extends Error {}

// Linux's cluster count limits between FAT12, FAT16 and FAT32 (fs/fat/inode.c: MAX_FAT12, MAX_FAT16).
const MAX_FAT12 = 0xff4;
const MAX_FAT16 = 0xfff4;
/** A directory larger than the FAT limit of 65,536 entries is not a directory a guest wrote. */
export const MAX_DIRECTORY_BYTES = 65_536 * 32;
const TABLE_BLOCK = 64 * 1024;

export type Read = (offset: number, length: number) => Buffer;

/** Whether a FAT boot sector starts `sector`: the 0x55AA mark, a FAT name where mkfs and Windows put it, a sane geometry. */
export function isFatBootSector(sector: Buffer): boolean {
  if (sector.length < 512 || sector.readUInt16LE(510) !== 0xaa55) return false;
  const named = sector.toString('latin1', 54, 59) === 'FAT12' || sector.toString('latin1', 54, 59) === 'FAT16';
  const named32 = sector.toString('latin1', 82, 87) === 'FAT32';
  if (!named && !named32) return false;
  const bytesPerSector = sector.readUInt16LE(11);
  const perCluster = sector.readUInt8(13);
  return (
    [512, 1024, 2048, 4096].includes(bytesPerSector) &&
    perCluster > 0 &&
    (perCluster & (perCluster - 1)) === 0 &&
    sector.readUInt16LE(14) > 0 &&
    sector.readUInt8(16) > 0
  );
}

export class FatVolume {
  readonly bits: 12 | 16 | 32;
  readonly clusterBytes: number;
  /** Clusters 2 … clusterCount + 1 exist. */
  readonly clusterCount: number;
  /** FAT12/16: the fixed root directory's place and size; FAT32: its first cluster. */
  readonly rootOffset: number;
  readonly rootEntries: number;
  readonly rootCluster: number;
  private readonly fatOffset: number;
  private readonly dataOffset: number;
  // The table's blocks read so far (a FAT32 of 2^28 clusters is 1 GiB of table: read as needed).
  private readonly fatBlocks = new Map<number, Buffer>();

  constructor(
    private readonly read: Read,
    readonly size: number,
  ) {
    const boot = read(0, 512);
    if (!isFatBootSector(boot)) throw new FatDamage('no FAT boot sector');
    const sectorBytes = boot.readUInt16LE(11);
    this.clusterBytes = sectorBytes * boot.readUInt8(13);
    const reserved = boot.readUInt16LE(14);
    const fats = boot.readUInt8(16);
    this.rootEntries = boot.readUInt16LE(17);
    const sectors = boot.readUInt16LE(19) || boot.readUInt32LE(32);
    const fatSectors = boot.readUInt16LE(22) || boot.readUInt32LE(36);
    const fat32 = boot.readUInt16LE(22) === 0 && boot.readUInt32LE(36) !== 0;
    this.fatOffset = reserved * sectorBytes;
    this.rootOffset = this.fatOffset + fats * fatSectors * sectorBytes;
    const rootBytes = fat32 ? 0 : Math.ceil((this.rootEntries * 32) / sectorBytes) * sectorBytes;
    this.dataOffset = this.rootOffset + rootBytes;
    const dataSectors = sectors - this.dataOffset / sectorBytes;
    if (fatSectors === 0 || dataSectors <= 0 || sectors * sectorBytes > size)
      throw new FatDamage(`a boot sector whose geometry does not fit its ${size} bytes`);
    this.clusterCount = Math.floor(dataSectors / boot.readUInt8(13));
    this.bits = fat32 ? 32 : this.clusterCount > MAX_FAT12 ? 16 : 12;
    if (!fat32 && this.clusterCount > MAX_FAT16) throw new FatDamage('a FAT16 with more clusters than FAT16 holds');
    this.rootCluster = fat32 ? boot.readUInt32LE(44) & 0x0fffffff : 0;
    const fatBytes = Math.ceil(((this.clusterCount + 2) * this.bits) / 8);
    if (fatBytes > fatSectors * sectorBytes) throw new FatDamage('an allocation table smaller than its clusters');
  }

  /** The clusters of a chain starting at `first`, in order; a loop or a cluster outside the volume is damage. */
  chain(first: number, limitBytes = Number.MAX_SAFE_INTEGER): number[] {
    const clusters: number[] = [];
    const seen = new Set<number>();
    for (let cluster = first; ;) {
      if (cluster < 2 || cluster > this.clusterCount + 1)
        throw new FatDamage(`a cluster chain reaching cluster ${cluster}, outside the volume`);
      if (seen.has(cluster)) throw new FatDamage(`a cluster chain that loops at cluster ${cluster}`);
      seen.add(cluster);
      clusters.push(cluster);
      if (clusters.length * this.clusterBytes > limitBytes)
        throw new FatDamage(`a chain longer than ${limitBytes} bytes`);
      const next = this.entry(cluster);
      if (next >= this.endOfChain()) return clusters;
      cluster = next;
    }
  }

  /** A cluster's bytes. */
  cluster(cluster: number): Buffer {
    return this.read(this.dataOffset + (cluster - 2) * this.clusterBytes, this.clusterBytes);
  }

  /** The FAT12/16 root directory's bytes. */
  fixedRoot(): Buffer {
    return this.read(this.rootOffset, this.rootEntries * 32);
  }

  // A cluster's entry in the first table.
  private entry(cluster: number): number {
    if (this.bits === 32) return this.tableBytes(cluster * 4, 4).readUInt32LE(0) & 0x0fffffff;
    if (this.bits === 16) return this.tableBytes(cluster * 2, 2).readUInt16LE(0);
    const pair = this.tableBytes(Math.floor((cluster * 3) / 2), 2).readUInt16LE(0);
    return cluster & 1 ? pair >> 4 : pair & 0xfff;
  }

  // Bytes of the table, by 64 KiB blocks (a FAT12 entry may straddle two).
  private tableBytes(at: number, length: number): Buffer {
    const parts: Buffer[] = [];
    for (let block = Math.floor(at / TABLE_BLOCK); block <= Math.floor((at + length - 1) / TABLE_BLOCK); block++) {
      let bytes = this.fatBlocks.get(block);
      if (bytes === undefined) {
        const from = this.fatOffset + block * TABLE_BLOCK;
        bytes = this.read(from, Math.min(TABLE_BLOCK, this.size - from));
        this.fatBlocks.set(block, bytes);
      }
      parts.push(bytes);
    }
    const start = at % TABLE_BLOCK;
    return Buffer.concat(parts).subarray(start, start + length);
  }

  // Linux's end of chain: 0xff8 and above (FAT12), 0xfff8 (FAT16), 0x0ffffff8 (FAT32); 0xff7… bad.
  private endOfChain(): number {
    return this.bits === 32 ? 0x0ffffff8 : this.bits === 16 ? 0xfff8 : 0xff8;
  }
}
