// kill -9 at the start of every step of a sync of a running libvirt domain (./replica-crash.ts);
// inside the steps: ./replicate-libvirt-crash-inside.test.ts.

import { stepStarts } from '../support/kill-moments.js';
import { killSyncsAt } from './replica-crash.js';

killSyncsAt(
  'replk',
  stepStarts([
    'resolve-sync',
    'create-layers',
    'start-replica-nbd',
    'transfer',
    'install-point',
    'define-replica-domain',
  ]),
);
