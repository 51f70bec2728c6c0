// Whether a process on the node has a file open or locked (a running VM's disk, a qemu-nbd
// export): such a file is refused as a restore target, never replaced under its user.

import type { NodeHost } from './node.js';
import { imageLockProbeArgv } from '../qemu/command-lines.js';

// One `find` over /proc/*/fd (not a readlink per descriptor), then each holder's name.
const OPEN_BY = `find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null | while IFS=/ read -r _ _ pid _; do printf '%s %s\\n' "$pid" "$(cat /proc/$pid/comm 2>/dev/null)"; done | sort -u; exit 0`;

// A description of who holds it ("pid 1234 (qemu-system-x86)"), or undefined when nobody does.
export async function fileInUse(node: NodeHost, file: string): Promise<string | undefined> {
  const real = await node.exec(['realpath', '-e', '--', file]);
  if (real.exitCode !== 0) return undefined;
  const path = real.stdout.trim();
  const holders = await node.exec(['sh', '-c', OPEN_BY, 'sh', globEscape(path)]);
  const found = holders.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, ...name] = line.split(' ');
      return `pid ${pid}${name.length > 0 && name.join(' ') ? ` (${name.join(' ')})` : ''}`;
    });
  if (found.length > 0) return `open by ${found.join(', ')}`;
  // Processes of other users are invisible to a non-root hub; qemu's own image lock is not.
  const locked = await node.exec(imageLockProbeArgv(path));
  if (locked.exitCode !== 0 && /lock/i.test(locked.stderr)) return 'locked by another process (qemu image lock)';
  return undefined;
}

// find -lname takes a shell pattern: the path's own *, ?, [ and \\ must match themselves.
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
