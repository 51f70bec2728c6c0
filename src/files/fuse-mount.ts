// FUSE mountpoints on this host: whether a dir is one (from /proc/self/mountinfo) and how to
// unmount it (guestunmount retries while it is busy; fusermount -uz detaches a dead server's).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { childEnv } from '../process/child-env.js';

const run = promisify(execFile);

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescapeMountField = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

export function isMountPoint(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((line) => unescapeMountField(line.split(' ')[4] ?? '') === dir);
  } catch {
    return false;
  }
}

// Unmounts a FUSE mount; lazily (-z) when its server is gone or it stays busy.
export async function unmountFuse(dir: string, options: { readonly lazy?: boolean } = {}): Promise<void> {
  if (!isMountPoint(dir)) return;
  if (!options.lazy) {
    try {
      await run('guestunmount', ['--quiet', '--retry=5', dir], { env: childEnv() });
      return;
    } catch {
      // still busy, or the server died: detach it below
    }
  }
  await run('fusermount', ['-u', '-z', dir], { env: childEnv() });
}
