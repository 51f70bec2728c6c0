// kill -9 inside the steps of a sync of a running libvirt domain (./replica-crash.ts): the backup
// job just started, every disk written but not installed, one disk installed, the oldest point
// being folded (also once its folded manifest is written). At the start of each step: ./replicate-libvirt-crash.test.ts.

import { killSyncsAt } from './replica-crash.js';
import { killAtEnv } from '../../src/crash-points.js';

killSyncsAt('replki', [
  { name: 'just after the backup job started', env: killAtEnv('libvirt.job-started') },
  { name: 'every disk written, not yet installed', env: killAtEnv('replica.sync-written') },
  { name: 'one disk installed, the other not', env: killAtEnv('replica.sync-half-installed') },
  { name: 'while folding the oldest point', env: killAtEnv('replica.fold-started') },
  {
    name: 'folding, with the folded manifest written and the commit not begun',
    env: killAtEnv('replica.fold-manifest-written'),
  },
]);
