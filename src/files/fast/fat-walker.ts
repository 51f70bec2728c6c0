// The FAT walker: a process of its own (bundled as dist/cli/fat-walker.js) that the hub runs in the
// fast path's sandbox (./fat-reader.ts) to read a FAT volume's guest bytes, so a crafted volume can
// only fail or stop this process, never the hub. Arguments: `uid:gid` to become (started as root)
// or `-`, the disk file, the volume's offset and size in it, `list`, `stat` or `cat`, and the path
// as hex of its UTF-8 bytes. It prints JSON lines
// (list, stat) or the file's bytes (cat); exit 2 with one line on stderr for a damaged volume or a
// missing path, 3 for what the appliance should read. docs/file-level-restore.md#the-fast-path

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { DIRECTORY_MODE, directoryEntries, type FatEntry } from './fat-directory.js';
import { EXIT_DAMAGE, EXIT_NOT_FOR_FAST_PATH, type WalkedEntry } from './fat-walker-answer.js';
import { FatDamage, FatNotForFastPath, FatVolume, MAX_DIRECTORY_BYTES } from './fat-volume.js';

interface Found {
  readonly entry: FatEntry;
  /** The root has no entry of its own. */
  readonly root: boolean;
}

class Walker {
  constructor(private readonly volume: FatVolume) {}

  // A folder's bytes: the fixed root (FAT12/16) or its chain, at most 65,536 entries.
  directoryBytes(found: Found): Buffer {
    if (found.root && this.volume.bits !== 32) return this.volume.fixedRoot();
    const clusters = this.volume.chain(found.entry.firstCluster, MAX_DIRECTORY_BYTES);
    return Buffer.concat(clusters.map((cluster) => this.volume.cluster(cluster)));
  }

  entries(found: Found): FatEntry[] {
    return directoryEntries(this.directoryBytes(found), this.volume.bits === 32);
  }

  // A folder's size as Linux says it: its chain's clusters (the fixed root: its entries).
  sized(found: Found): FatEntry {
    if (!found.entry.directory) return found.entry;
    if (found.root && this.volume.bits !== 32) return { ...found.entry, size: this.volume.rootEntries * 32 };
    if (found.entry.firstCluster === 0) throw new FatNotForFastPath();
    const clusters = this.volume.chain(found.entry.firstCluster, MAX_DIRECTORY_BYTES);
    return { ...found.entry, size: clusters.length * this.volume.clusterBytes };
  }

  // Each name found as bytes; one that differs only in case is the appliance's (vfat ignores case).
  resolve(path: Buffer): Found {
    const root: FatEntry = {
      name: Buffer.from('/'),
      directory: true,
      size: 0,
      mode: DIRECTORY_MODE,
      mtime: 0,
      atime: 0,
      firstCluster: this.volume.rootCluster,
    };
    let found: Found = { entry: root, root: true };
    const names = path
      .toString('utf8')
      .split('/')
      .filter((name) => name !== '');
    for (const [i, name] of names.entries()) {
      const where = `/${names.slice(0, i + 1).join('/')}`;
      if (!found.entry.directory) throw new FatDamage(`/${names.slice(0, i).join('/')}: Not a directory`);
      const entries = this.entries(found);
      const wanted = Buffer.from(name, 'utf8');
      const entry = entries.find((candidate) => candidate.name.equals(wanted));
      if (entry === undefined) {
        if (entries.some((candidate) => candidate.name.toString('utf8').toLowerCase() === name.toLowerCase()))
          throw new FatNotForFastPath();
        throw new FatDamage(`${where}: No such file or directory`);
      }
      found = { entry, root: false };
    }
    return found;
  }

  // A file's bytes, cluster by cluster, as many as its size says.
  cat(found: Found, write: (bytes: Buffer) => void): void {
    let left = found.entry.size;
    if (left === 0) return;
    const clusters = this.volume.chain(found.entry.firstCluster, left + this.volume.clusterBytes);
    if (clusters.length * this.volume.clusterBytes < left)
      throw new FatDamage(`a file of ${left} bytes whose chain holds fewer`);
    for (const cluster of clusters) {
      if (left <= 0) break;
      const bytes = this.volume.cluster(cluster);
      write(bytes.subarray(0, Math.min(left, bytes.length)));
      left -= bytes.length;
    }
  }
}

function printed(entry: FatEntry): string {
  const walked: WalkedEntry = {
    name: entry.name.toString('base64'),
    directory: entry.directory,
    size: entry.size,
    mode: entry.mode,
    mtime: entry.mtime,
    atime: entry.atime,
  };
  return `${JSON.stringify(walked)}\n`;
}

// Root no more: every id the point's, no supplementary group but its own. Before the disk file is
// opened (nbdfuse lets no other uid open it, root included) and before one guest byte is read.
function leaveRoot(ids: string): void {
  const [uid, gid] = ids.split(':').map(Number);
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid === 0 || gid === 0)
    throw new LeftRootNot(`no uid:gid to become (${ids})`);
  try {
    process.setgroups!([]);
    process.setgid!(gid);
    process.setuid!(uid);
  } catch (error) {
    throw new LeftRootNot((error as Error).message);
  }
  const same = [process.getuid!(), process.geteuid!()].every((id) => id === uid);
  const groups = [process.getgid!(), process.getegid!(), ...process.getgroups!()].every((id) => id === gid);
  if (!same || !groups) throw new LeftRootNot(`still uid ${process.geteuid!()}, gid ${process.getegid!()}`);
}

class LeftRootNot extends Error {}

function main(argv: readonly string[]): number {
  const [ids, file, offsetText, sizeText, command, pathHex] = argv;
  if (ids !== '-') {
    try {
      leaveRoot(ids ?? '');
    } catch (error) {
      process.stderr.write(`the FAT walker could not leave root: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const offset = Number(offsetText);
  const size = Number(sizeText);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    process.stderr.write(`the FAT walker could not open the disk file: ${(error as Error).message}\n`);
    return 1;
  }
  // Changing ids cleared setpriv's pdeathsig: a hub gone (we were handed to another parent) ends the walk.
  const parent = process.ppid;
  const read = (at: number, length: number) => {
    if (process.ppid !== parent) process.exit(1);
    if (at < 0 || length < 0 || at + length > size) throw new FatDamage(`a read past the volume's end (byte ${at})`);
    const bytes = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const got = readSync(fd, bytes, done, length - done, offset + at + done);
      if (got === 0) throw new FatDamage(`a read past the disk's end (byte ${at + done})`);
      done += got;
    }
    return bytes;
  };
  const out = (text: string | Buffer) => {
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    for (let done = 0; done < bytes.length;) done += writeSync(1, bytes, done);
  };
  try {
    const walker = new Walker(new FatVolume(read, size));
    const found = walker.resolve(Buffer.from(pathHex ?? '', 'hex'));
    if (command === 'cat') walker.cat(found, out);
    else if (command === 'list' && found.entry.directory) {
      const listed = walker.entries(found).map((entry) => walker.sized({ entry, root: false }));
      out(listed.map(printed).join(''));
    } else out(printed(walker.sized(found)));
    return 0;
  } catch (error) {
    if (error instanceof FatNotForFastPath) return EXIT_NOT_FOR_FAST_PATH;
    if (error instanceof FatDamage) {
      process.stderr.write(`${error.message}\n`);
      return EXIT_DAMAGE;
    }
    throw error;
  } finally {
    closeSync(fd);
  }
}

process.exitCode = main(process.argv.slice(2));
