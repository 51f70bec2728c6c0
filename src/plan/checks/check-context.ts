// What every semantic check gets: the plan data, where to report, and line lookups for
// messages that point back at an earlier place ("first at line 12").

import type { PlanIssues, PlanPath } from '../plan-issue.js';

export interface CheckContext {
  /** Plan data; `${VAR}` already substituted when loading for a run. */
  readonly data: unknown;
  readonly issues: PlanIssues;
  readonly lineOf: (path: PlanPath) => number;
}

export type PlanCheck = (context: CheckContext) => void;
