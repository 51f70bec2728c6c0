// The hub config's `notify` (docs/notifications.md): the default for every plan without its own,
// checked by the plan schema's definition and the same rules as a plan's, then built the same way.

import { checkLiteralSecrets } from '../plan/checks/literal-secrets.js';
import { checkNotifyRules } from '../plan/checks/notify-rules.js';
import { describeSchemaErrors } from '../plan/describe-schema-errors.js';
import { isWithin, PlanIssues, type PlanIssue, type PlanPath } from '../plan/plan-issue.js';
import { notifySchemaErrors } from '../plan/plan-schema.js';
import { buildNotify } from '../notify/notify-settings.js';
import type { RawNotify } from '../plan/plan-shape.generated.js';
import type { NotifySettings } from '../plan/types.js';
import { deepFreeze } from '../plan/deep-freeze.js';

export function checkHubNotify(
  value: unknown,
  fail: (key: PlanPath, message: string, at?: 'key' | 'value') => never,
): NotifySettings {
  const data = { notify: value };
  const issues = new PlanIssues();
  const context = { data, issues, lineOf: () => 0 };
  const hidden = checkLiteralSecrets(context);
  const schemaIssues = describeSchemaErrors(notifySchemaErrors(data), data).filter(
    (issue) => !hidden.some((path) => isWithin(issue.path, path)),
  );
  checkNotifyRules(context);
  const first: PlanIssue | undefined = [...issues.list, ...schemaIssues].find((issue) => issue.severity === 'error');
  if (first) fail(first.path, first.message, first.at);
  return deepFreeze(buildNotify(value as RawNotify));
}
