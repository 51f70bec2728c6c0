// The copy target over SSH (src/copy/targets/ssh.ts) runs the conformance suite against a real
// sshd on 127.0.0.1 (./copy-target-suite.ts).

import { sshCopyTarget } from '../../../src/copy/targets/ssh.js';
import type { NodeHost } from '../../../src/node/node.js';
import { connectSshNode } from '../../../src/node/ssh.js';
import { useCopySshd } from '../copy-support.js';
import { copyTargetSuite } from './copy-target-suite.js';
import { hostInstance } from './host-instance.js';

const node = useCopySshd();
const hosts: NodeHost[] = [];

copyTargetSuite(
  'ssh',
  hostInstance(
    async (root) => {
      const { host, port, user, identityFile, knownHosts } = node.sshd;
      const spec = { host, port, user, identityFile, knownHosts };
      const connected = await connectSshNode(spec, { agent: false });
      hosts.push(connected);
      return sshCopyTarget(connected, spec, root);
    },
    async () => {
      for (const host of hosts) await host.close();
    },
  ),
);
