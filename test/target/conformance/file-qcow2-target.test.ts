// The file target writing qcow2 images (src/restore/targets/file-target.ts) runs the restore target
// conformance suite (./disk-target-suite.ts).

import { diskTargetSuite } from './disk-target-suite.js';
import { fileTargetInstance } from './file-target-instance.js';

diskTargetSuite('file-qcow2', fileTargetInstance('qcow2'));
