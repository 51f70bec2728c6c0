// A file written at a name anyone who can write its folder can work out (a manifest's temp, the
// keyring's, the metrics textfile's, a fetch's partial): whoever that is can put a symlink there
// (docs/threat-model.md), so such a file is made here and nowhere else.

import { constants } from 'node:fs';
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
