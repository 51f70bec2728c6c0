// A new host file written from a guest's bytes without its zeros: a 4 KiB block that is all
// zeros is skipped (a hole) and the size set at the end, so a guest's sparse file (or a file of
// zeros) takes no room on the hub beyond its data.

import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';

const HOLE = 4096;

export class SparseFile {
  private position = 0;

  private constructor(private readonly handle: FileHandle) {}

  // A new file (never an existing one, never through a symlink), readable only by its owner until chmod.
  static async create(file: string | Buffer): Promise<SparseFile> {
    return new SparseFile(
      await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600),
    );
  }

  async write(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      // Up to the next 4 KiB boundary of the file, so holes line up with filesystem blocks.
      const length = Math.min(chunk.length - at, HOLE - (this.position % HOLE));
      const piece = chunk.subarray(at, at + length);
      if (!isZero(piece)) await this.handle.write(piece, 0, piece.length, this.position);
      this.position += length;
      at += length;
    }
  }

  // Sets the size (the last hole), then owner, mode and times as given; closes.
  async close(facts: {
    readonly uid?: number;
    readonly gid?: number;
    readonly mode: number;
    readonly mtime: number;
    readonly atime: number;
  }): Promise<number> {
    try {
      await this.handle.truncate(this.position);
      if (facts.uid !== undefined && facts.gid !== undefined) await this.handle.chown(facts.uid, facts.gid);
      await this.handle.chmod(facts.mode);
      await this.handle.utimes(facts.atime, facts.mtime);
    } finally {
      await this.handle.close();
    }
    return this.position;
  }

  // For a failed extraction: the handle is closed (the staging directory goes with the file).
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => {});
  }
}

const ZEROS = Buffer.alloc(HOLE);

function isZero(bytes: Buffer): boolean {
  return bytes.equals(ZEROS.subarray(0, bytes.length));
}
