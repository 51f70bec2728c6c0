// Secrets never appear in a plan as literals (docs/plan-reference.md, 8). Reported without the value,
// and returned so the schema's own complaint about the same place is not printed (it may quote it).

import { isObject } from '../raw-plan.js';
import type { PlanPath } from '../plan-issue.js';
import type { CheckContext } from './check-context.js';

export const SECRET_KEY =
  /^(password|passwd|pwd|pass|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)$/i;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i;
// An object store's keys, under the names its tools give them (docs/copies.md#copies-on-object-storage).
const S3_KEY =
  /^(access[-_]?key[-_]?id|secret[-_]?access[-_]?key|secret[-_]?key|session[-_]?token|aws[-_]?access[-_]?key[-_]?id|aws[-_]?secret[-_]?access[-_]?key)$/i;
const USE_INSTEAD = 'name an environment variable with passwordEnv, or a file with passwordFile';

export function checkLiteralSecrets({ data, issues }: CheckContext): PlanPath[] {
  const hidden: PlanPath[] = [];
  const visit = (value: unknown, path: PlanPath): void => {
    if (typeof value === 'string' && URL_WITH_PASSWORD.test(value)) {
      issues.error(
        path,
        `${dotted(path)}: a password must not be written in a plan, here in the user:password@ part of a URL (the value is not shown)`,
      );
      hidden.push(path);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i]));
    } else if (isObject(value) && isWebhookHeaders(path)) {
      for (const [key, item] of Object.entries(value)) checkHeader(item, [...path, key]);
    } else if (isObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        const here = [...path, key];
        if (SECRET_KEY.test(key)) {
          issues.error(
            here,
            `${dotted(here)}: a secret must not be written in a plan; ${USE_INSTEAD} (the value is not shown)`,
            'key',
          );
          hidden.push(here);
        } else if (
          path.length === 2 &&
          path[0] === 'repository' &&
          path[1] === 'encryption' &&
          key !== 'keyFile' &&
          key !== 'keyEnv'
        ) {
          issues.error(
            here,
            `${dotted(here)}: a repository key must not be written in a plan; name a file with keyFile or an environment variable with keyEnv (the value is not shown)`,
            'key',
          );
          hidden.push(here);
        } else if (key === 'keyEnv' && typeof item === 'string' && !ENV_NAME.test(item)) {
          issues.error(
            here,
            `${dotted(here)}: must be the NAME of an environment variable, like SENDENSE_REPOSITORY_KEY, not the key itself (the value is not shown)`,
          );
          hidden.push(here);
        } else if (S3_KEY.test(key)) {
          issues.error(
            here,
            `${dotted(here)}: an object store's key must not be written in a plan; name environment variables with accessKeyIdEnv and secretAccessKeyEnv, or a file with credentialsFile (the value is not shown)`,
            'key',
          );
          hidden.push(here);
        } else if (
          (key === 'accessKeyIdEnv' || key === 'secretAccessKeyEnv') &&
          typeof item === 'string' &&
          !ENV_NAME.test(item)
        ) {
          issues.error(
            here,
            `${dotted(here)}: must be the NAME of an environment variable, like SENDENSE_S3_SECRET_ACCESS_KEY, not the key itself (the value is not shown)`,
          );
          hidden.push(here);
        } else if (key === 'passwordEnv' && typeof item === 'string' && !ENV_NAME.test(item)) {
          issues.error(
            here,
            `${dotted(here)}: must be the NAME of an environment variable, like VCENTER_PASSWORD, not the password itself (the value is not shown)`,
          );
          hidden.push(here);
        } else {
          visit(item, here);
        }
      }
    }
  };
  // A header's name may well say token or key; its value is never written here (docs/notifications.md).
  const checkHeader = (item: unknown, here: PlanPath): void => {
    if (typeof item === 'string' || typeof item === 'number') {
      issues.error(
        here,
        `${dotted(here)}: a header value must not be written in a plan; read it from { env: NAME } or { file: PATH } (the value is not shown)`,
      );
      hidden.push(here);
    } else if (isObject(item) && typeof item.env === 'string' && !ENV_NAME.test(item.env)) {
      issues.error(
        [...here, 'env'],
        `${dotted(here)}.env: must be the NAME of an environment variable, like WEBHOOK_TOKEN, not the value itself (the value is not shown)`,
      );
      hidden.push([...here, 'env']);
    }
  };
  visit(data, []);
  return hidden;
}

// notify.webhook.headers, in a plan or in the hub config.
function isWebhookHeaders(path: PlanPath): boolean {
  return path.length === 3 && path[0] === 'notify' && path[1] === 'webhook' && path[2] === 'headers';
}

function dotted(path: PlanPath): string {
  return path
    .map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${segment}`))
    .join('')
    .replace(/^\./, '');
}
