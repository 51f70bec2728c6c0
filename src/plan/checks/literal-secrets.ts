// Secrets never appear in a plan as literals (docs/plan-reference.md, 8). Reported without the value,
// and returned so the schema's own complaint about the same place is not printed (it may quote it).

import { isObject } from '../raw-plan.js';
import type { PlanPath } from '../plan-issue.js';
import type { CheckContext } from './check-context.js';

export const SECRET_KEY = /^(password|passwd|pwd|pass|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)$/i;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i;
const USE_INSTEAD = 'name an environment variable with passwordEnv, or a file with passwordFile';

export function checkLiteralSecrets({ data, issues }: CheckContext): PlanPath[] {
  const hidden: PlanPath[] = [];
  const visit = (value: unknown, path: PlanPath): void => {
    if (typeof value === 'string' && URL_WITH_PASSWORD.test(value)) {
      issues.error(path, `${dotted(path)}: a password must not be written in a plan, here in the user:password@ part of a URL (the value is not shown)`);
      hidden.push(path);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i]));
    } else if (isObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        const here = [...path, key];
        if (SECRET_KEY.test(key)) {
          issues.error(here, `${dotted(here)}: a secret must not be written in a plan; ${USE_INSTEAD} (the value is not shown)`, 'key');
          hidden.push(here);
        } else if (path.length === 2 && path[0] === 'repository' && path[1] === 'encryption' && key !== 'keyFile' && key !== 'keyEnv') {
          issues.error(here, `${dotted(here)}: a repository key must not be written in a plan; name a file with keyFile or an environment variable with keyEnv (the value is not shown)`, 'key');
          hidden.push(here);
        } else if (key === 'keyEnv' && typeof item === 'string' && !ENV_NAME.test(item)) {
          issues.error(here, `${dotted(here)}: must be the NAME of an environment variable, like SENDENSE_REPOSITORY_KEY, not the key itself (the value is not shown)`);
          hidden.push(here);
        } else if (key === 'passwordEnv' && typeof item === 'string' && !ENV_NAME.test(item)) {
          issues.error(here, `${dotted(here)}: must be the NAME of an environment variable, like VCENTER_PASSWORD, not the password itself (the value is not shown)`);
          hidden.push(here);
        } else {
          visit(item, here);
        }
      }
    }
  };
  visit(data, []);
  return hidden;
}

function dotted(path: PlanPath): string {
  return path
    .map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${segment}`))
    .join('')
    .replace(/^\./, '');
}
