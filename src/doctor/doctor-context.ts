// What a doctor pass works with: which runs are dead, and how it acts on and reports a finding.
// `sendense-run doctor` makes one for every sweeper; a run makes one for what dead runs left on
// the domain it is about to use (./node-resources.ts, giveBackLeftovers).

import { hostname } from 'node:os';
import { createLocalNode } from '../node/local.js';
import type { Store } from '../store/index.js';
import { runLiveness } from './run-liveness.js';
import { NO_CONSENT, type DoctorConsent, type DoctorContext, type Finding } from './sweeper.js';

export interface DoctorPass {
  readonly doctor: DoctorContext;
  readonly findings: readonly Finding[];
  /** Runs still going, whose things doctor left alone. */
  readonly liveRuns: ReadonlySet<string>;
}

export async function doctorPass(
  store: Store,
  stateDatabase: string,
  dryRun: boolean,
  consent: DoctorConsent = NO_CONSENT,
): Promise<DoctorPass> {
  const findings: Finding[] = [];
  const here = hostname();
  const { deadRuns, liveRuns, isLive } = await runLiveness(store, here);
  const doctor: DoctorContext = {
    store,
    stateDatabase,
    here,
    local: createLocalNode(),
    deadRuns,
    isLive,
    kept: new Set(),
    consent,
    // "would …" in a dry run, "…: done" after, "could not …" with the reason.
    async act(what, action, work) {
      if (dryRun) {
        findings.push({ what, action: `would ${action}`, ok: true });
        return;
      }
      try {
        await work();
        findings.push({ what, action: `${action}: done`, ok: true });
      } catch (error) {
        findings.push({ what, action: `could not ${action}: ${(error as Error).message}`, ok: false });
      }
    },
    report: (what, action, ok = true) => findings.push({ what, action, ok }),
  };
  return { doctor, findings, liveRuns };
}
