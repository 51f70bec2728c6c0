// copy.to type dir (docs/copies.md#a-copy-on-this-host): a directory of this host (a second disk,
// a NAS mount) written as an SSH copy's host writes its own (./host-files.ts), with no SSH: the
// same partial files made durable and checked before their rename, the same merges by this host's
// qemu-img.

import { expandHome } from '../../plan/home-path.js';
import { createLocalNode } from '../../node/local.js';
import type { DirCopyTo } from '../../plan/types.js';
import type { CopyTargetDefinition } from './copy-target-definition.js';
import { hostFilesTarget } from './host-files.js';
import { checkCopyPath } from './plan-checks.js';

export const dirCopyTargetDefinition: CopyTargetDefinition<DirCopyTo> = {
  build: (raw) => ({ type: 'dir', path: expandHome(raw.path) }),
  describe: (to) => to.path,
  async open(to) {
    return { target: dirCopyTarget(createLocalNode(), to.path), close: async () => {} };
  },
  onNode: true,
  async reopen(facts, host) {
    return { target: dirCopyTarget(host ?? createLocalNode(), facts.root ?? '/'), close: async () => {} };
  },
  describeRecord: (facts) => facts.root ?? '',
  leftBehind: { what: 'partial file', removal: 'remove it' },
  checks: checkCopyPath(true),
  encryptedRetention:
    "an encrypted repository's copy cannot merge its points: the copy's host would need the key, which never leaves the hub; leave copy.retention out (the copy keeps every point it is sent)",
};

/** The copy under `root` on this host (`node`: this host's NodeHost). */
export function dirCopyTarget(node: Parameters<typeof hostFilesTarget>[0], root: string) {
  return hostFilesTarget(node, root, root, { target: 'dir' });
}
