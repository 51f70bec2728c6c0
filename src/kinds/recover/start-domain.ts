// start-domain: the recovered domain started on its overlays; from here on nothing in this run
// stops or undefines it (docs/instant-recovery.md: a recovered VM is never killed to clean up).

import type { Step } from '../../engine/step.js';
import { crashPoint } from '../../crash-points.js';
import type { RecoverRun } from './recover-run.js';

export const startDomain: Step<RecoverRun> = {
  name: 'start-domain',
  title: (run) => `start domain ${run.plan.recover.to.domain}`,
  skip: (run) => (run.plan.recover.start ? undefined : 'recover.start is false: the domain is defined, not started'),
  facts: (run) => ({ domain: run.plan.recover.to.domain, runningAfterSeconds: run.state.runningAfter }),
  async run(run) {
    const { domain } = run.plan.recover.to;
    await run.virsh.run(['start', domain], `start domain ${domain}`);
    // The domain is the user's now: failure-only undo (undefine) never touches it again.
    run.undo.commit();
    crashPoint('recover.domain-started');
    run.state.runningAfter = Math.round(process.uptime() * 10) / 10;
    return `${domain} running ${run.state.runningAfter} s after the command, its disks read from backup ${run.state.backupId}`;
  },
  would: (run) =>
    run.plan.recover.start ? `virsh start ${run.plan.recover.to.domain}` : 'nothing (recover.start is false)',
};
