// Turn a failed qemu-img into one clear SendenseError naming the image and qemu's own reason.

import { SendenseError } from '../errors.js';
import type { ExecResult } from '../node/node.js';

// qemu-img's first stderr line without the "qemu-img: " and "Could not open 'x': " prefixes.
export function qemuReason(stderr: string): string {
  const first = stderr.split('\n').find((line) => line.trim() !== '') ?? '';
  let reason = first.replace(/^qemu-img: /, '');
  for (;;) {
    const stripped = reason.replace(/^(Could not open '[^']*': |[^\s:]+\.\w+: )/, '');
    if (stripped === reason) return reason.trim();
    reason = stripped;
  }
}

// `whenLocked`: what the caller knows of who holds qemu's image lock (a qemu source: a running VM).
export function qemuImgError(action: string, file: string, result: ExecResult, whenLocked?: string): SendenseError {
  const reason = qemuReason(result.stderr);
  if (/Failed to get .*lock/.test(reason)) {
    return new SendenseError(
      `image ${file} is in use by another process (locked)${whenLocked === undefined ? '' : `, ${whenLocked}`}`,
    );
  }
  if (/No such file or directory/.test(reason)) {
    return new SendenseError(`cannot ${action} ${file}: no such file or directory`);
  }
  return new SendenseError(`cannot ${action} ${file}: ${reason || `qemu-img exited with code ${result.exitCode}`}`);
}
