// The copy target in a directory of this host (src/copy/targets/dir.ts) runs the conformance suite
// (./copy-target-suite.ts).

import { dirCopyTarget } from '../../../src/copy/targets/dir.js';
import { createLocalNode } from '../../../src/node/local.js';
import { copyTargetSuite } from './copy-target-suite.js';
import { hostInstance } from './host-instance.js';

copyTargetSuite(
  'dir',
  hostInstance(async (root) => dirCopyTarget(createLocalNode(), root)),
);
