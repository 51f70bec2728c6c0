// A plan made in memory from typed inputs (an ad-hoc restore, src/restore): the same schema and
// semantic checks as a plan file, then the same typed Plan, with no YAML written or parsed.

import { kindDefinitions } from '../kinds/index.js';
import { sourceDefinitions } from '../source/source-types.js';
import { usageError } from '../errors.js';
import { buildPlan } from './build-plan.js';
import { checkPlanSemantics } from './checks/semantic-checks.js';
import { describeSchemaErrors } from './describe-schema-errors.js';
import { PlanIssues, type PlanIssue } from './plan-issue.js';
import { planSchemaErrors } from './plan-schema.js';
import type { Plan } from './types.js';

/** Every error the plan checks find in data (none: it builds). */
export function planDataErrors(data: unknown): readonly PlanIssue[] {
  const issues = new PlanIssues();
  issues.list.push(...describeSchemaErrors(planSchemaErrors(data, kindDefinitions(), sourceDefinitions()), data));
  checkPlanSemantics({ data, issues, lineOf: () => 0 });
  return issues.list.filter((issue) => issue.severity === 'error');
}

// origin: what stands for the plan's file in history and messages, e.g. "(ad-hoc restore)".
export function planFromData(data: unknown, origin: string): Plan {
  const error = planDataErrors(data)[0];
  if (error !== undefined) throw usageError(error.message);
  return buildPlan(data, origin, []);
}
