// copy.to type ssh (docs/copies.md): a directory on another host reached over SSH, its host key
// checked; its files are put and merged there by shell scripts (./host-files.ts).

import { buildNode } from '../../plan/build-parts.js';
import { describeNode } from '../../node/node-description.js';
import type { NodeSpec, SshCopyTo } from '../../plan/types.js';
import type { CopyTargetDefinition } from './copy-target-definition.js';
import { hostFilesTarget } from './host-files.js';
import { checkCopyPath } from './plan-checks.js';

// "sendense@offsite1:22:/backup/offsite"
function describe(spec: NodeSpec, root: string): string {
  return `${describeNode(spec)}:${root}`;
}

export const sshCopyTargetDefinition: CopyTargetDefinition<SshCopyTo> = {
  build: (raw) => ({ type: 'ssh', node: buildNode(raw.node), path: raw.path }),
  describe: (to) => describe(to.node, to.path),
  async open(to) {
    const { connectSshNode } = await import('../../node/ssh.js');
    const node = await connectSshNode(to.node);
    return { target: sshCopyTarget(node, to.node, to.path), close: () => node.close() };
  },
  onNode: true,
  async reopen(facts, host) {
    if (host === undefined || facts.nodeSpec === undefined) throw new Error('an ssh copy is reached again on its host');
    // Records of older runs name no root: only their partial files, by absolute name, are removed there.
    return { target: sshCopyTarget(host, facts.nodeSpec, facts.root ?? '/'), close: async () => {} };
  },
  describeRecord: (facts) => describe(facts.nodeSpec!, facts.root ?? ''),
  leftBehind: { what: 'partial file', removal: 'remove it' },
  checks: checkCopyPath(false),
  encryptedRetention:
    "an encrypted repository's copy cannot merge its points: the copy's host would need the key, which never leaves the hub; leave copy.retention out (the copy keeps every point it is sent)",
};

/** The copy under `root` on `node`, reached over SSH as `spec` (the host as the plan gives it). */
export function sshCopyTarget(node: Parameters<typeof hostFilesTarget>[0], spec: NodeSpec, root: string) {
  return hostFilesTarget(node, root, describe(spec, root), { target: 'ssh', nodeSpec: spec });
}
