// What the targets that write a host's files (ssh, dir: src/copy/targets/host-files.ts) share in
// the conformance suite: the host is this machine, so a partial file is looked at and a file
// brought back through the filesystem; a target on a 4 MiB tmpfs is refused for want of space.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CopyTarget } from '../../../src/copy/copy-target.js';
import type { CopyTargetInstance } from './copy-target-suite.js';

export function hostInstance(
  make: (root: string) => Promise<CopyTarget>,
  close: () => Promise<void> = async () => {},
): CopyTargetInstance {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-copy-host-'));
  const small = path.join(dir, 'small');
  const file = (target: CopyTarget, relative: string) => path.join(target.capability('host')!.root, relative);
  return {
    make: (name) => make(path.join(dir, name)),
    capabilities: ['host'],
    async partialLeft(target, relative) {
      const partial = `${file(target, relative)}.partial`;
      return existsSync(partial) && statSync(partial).size > 0;
    },
    resumes: false,
    async refusing() {
      mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4M,mode=0700', 'tmpfs', small]);
      return {
        target: await make(path.join(small, 'copy')),
        error: /: cannot write vm\/disk-2000\/big\.qcow2: no space left on device$/,
      };
    },
    async fetch(target, relative, into) {
      copyFileSync(file(target, relative), into);
    },
    async done() {
      await close();
      if (existsSync(small)) execFileSync('umount', ['-l', small]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
