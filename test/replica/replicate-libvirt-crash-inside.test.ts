// kill -9 inside the steps of a sync of a running libvirt domain (./replica-crash.ts): the backup
// job just started, every disk written but not installed, one disk installed, the oldest point
// being folded (also once its folded manifest is written). At the start of each step: ./replicate-libvirt-crash.test.ts.

import { killSyncsAt } from './replica-crash.js';

killSyncsAt('replki', [
  { name: 'just after the backup job started', env: { SENDENSE_TEST_KILL_AT: 'job-started' } },
  { name: 'every disk written, not yet installed', env: { SENDENSE_TEST_KILL_AT: 'sync-written' } },
  { name: 'one disk installed, the other not', env: { SENDENSE_TEST_KILL_AT: 'sync-half-installed' } },
  { name: 'while folding the oldest point', env: { SENDENSE_TEST_KILL_AT: 'fold-started' } },
  {
    name: 'folding, with the folded manifest written and the commit not begun',
    env: { SENDENSE_TEST_KILL_AT: 'fold-manifest-written' },
  },
]);
