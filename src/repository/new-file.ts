// A file at a name anyone who can write its folder can work out (a manifest's temp, the keyring's,
// the metrics textfile's, a fetch's partial; a browse folder's owner, a bucket view's export):
// whoever that is can put a symlink or a file of theirs there (docs/threat-model.md), so such a
// file is made, and read back, here and nowhere else.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';

// Whatever is at `file` goes (a temp a killed writer left, or a symlink), and the new file is made
// by this open alone, never through a symlink: one put there between the two makes the open fail.
// `mode` whatever the umask.
export async function createNewFile(file: string, mode: number): Promise<FileHandle> {
  await rm(file, { force: true });
  const handle = await open(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    await handle.chmod(mode);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

/**
 * The text of `file` when it is a regular file of this user's (not a symlink, not a FIFO: the open
 * never blocks) of at most `mostBytes`, and with `closed`, unreadable by group and others; else
 * undefined, as for no file at all.
 */
export function readOwnFile(file: string, mostBytes: number, { closed = false } = {}): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const facts = fstatSync(fd);
    const uid = process.geteuid?.();
    if (!facts.isFile() || (uid !== undefined && facts.uid !== uid) || facts.size > mostBytes) return undefined;
    if (closed && (facts.mode & 0o077) !== 0) return undefined;
    const bytes = Buffer.alloc(facts.size);
    const length = readSync(fd, bytes, 0, bytes.length, 0);
    return bytes.subarray(0, length).toString('utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
