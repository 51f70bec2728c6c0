// What `validate` checks of copy.to, type by type (docs/copies.md): each copy target's definition
// names its own checks (./index.ts); these are theirs.

import path from 'node:path';
import { hasEnvRef } from '../../plan/env-refs.js';
import { expandHome } from '../../plan/home-path.js';
import { stringAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';

const THIS_HOST = new Set(['localhost', '127.0.0.1', '::1']);

/** The plan's copy.to checks of one type of target; `retention`: copy.retention as written. */
export type CopyToChecks = (context: CheckContext, retention: unknown) => void;

// ssh and dir: the copy's path is absolute on its host (dir: this host), and a copy on this host
// is never the repository itself nor inside it (the hub's own scan would take it for a VM's folder).
export function checkCopyPath(onThisHost: boolean): CopyToChecks {
  return ({ data, issues }) => {
    const given = stringAt(data, 'copy', 'to', 'path');
    if (given === undefined || given === '' || hasEnvRef(given)) return;
    const target = onThisHost ? expandHome(given) : given;
    if (!path.posix.isAbsolute(target)) {
      issues.error(
        ['copy', 'to', 'path'],
        `copy.to.path: must be an absolute path on ${onThisHost ? 'this host' : "the copy's host"} (got '${given}')`,
      );
      return;
    }
    const host = onThisHost ? 'this host' : stringAt(data, 'copy', 'to', 'node', 'host');
    const repository = stringAt(data, 'repository', 'path');
    if (host === undefined || !(onThisHost || THIS_HOST.has(host)) || repository === undefined || hasEnvRef(repository))
      return;
    const relative = path.posix.relative(path.posix.resolve(expandHome(repository)), path.posix.resolve(target));
    if (relative === '' || (!relative.startsWith('..') && !path.posix.isAbsolute(relative))) {
      issues.error(
        ['copy', 'to', 'path'],
        `copy.to.path: ${given} on ${host} is the repository ${repository} or inside it; a copy needs a directory of its own`,
      );
    }
  };
}

// s3 (docs/copies.md#copies-on-object-storage): credentials named one way; objectLock's per-rule
// days each need their rule in copy.retention.
export const checkS3CopyTo: CopyToChecks = ({ data, issues }, retention) => {
  checkS3Credentials(data, issues);
  checkLockByRule(data, retention, issues);
};

function checkS3Credentials(data: unknown, issues: CheckContext['issues']): void {
  const has = (key: string) => stringAt(data, 'copy', 'to', key) !== undefined;
  const fromEnv = has('accessKeyIdEnv') || has('secretAccessKeyEnv');
  if (fromEnv && has('credentialsFile')) {
    issues.error(
      ['copy', 'to', 'credentialsFile'],
      'copy.to: give the credentials one way: accessKeyIdEnv with secretAccessKeyEnv, or credentialsFile',
    );
  } else if (fromEnv && !(has('accessKeyIdEnv') && has('secretAccessKeyEnv'))) {
    const missing = has('accessKeyIdEnv') ? 'secretAccessKeyEnv' : 'accessKeyIdEnv';
    issues.error(
      ['copy', 'to', missing],
      `copy.to.${missing}: needed with ${missing === 'accessKeyIdEnv' ? 'secretAccessKeyEnv' : 'accessKeyIdEnv'} (the names of the environment variables that hold the keys)`,
    );
  } else if (!fromEnv && !has('credentialsFile')) {
    issues.error(
      ['copy', 'to'],
      'copy.to: an s3 target needs its credentials: accessKeyIdEnv and secretAccessKeyEnv (names of environment variables), or credentialsFile',
    );
  }
  if (has('profile') && !has('credentialsFile'))
    issues.error(['copy', 'to', 'profile'], 'copy.to.profile: names a section of credentialsFile, which is not given');
}

const KEEP_RULES = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

// objectLock.keepMonthly and its kin lock longer what a rule of copy.retention keeps: each needs that rule, and more days than `days`.
function checkLockByRule(data: unknown, retention: unknown, issues: CheckContext['issues']): void {
  const lock = (data as { copy?: { to?: { objectLock?: Record<string, unknown> } } } | null)?.copy?.to?.objectLock;
  if (lock === undefined || lock === null || typeof lock !== 'object') return;
  const rules = retention !== null && typeof retention === 'object' ? (retention as Record<string, unknown>) : {};
  for (const rule of KEEP_RULES) {
    const days = lock[rule];
    if (typeof days !== 'number') continue;
    if (rules[rule] === undefined) {
      issues.error(
        ['copy', 'to', 'objectLock', rule],
        `copy.to.objectLock.${rule}: locks longer the points copy.retention.${rule} keeps, but copy.retention has no ${rule}`,
      );
    } else if (typeof lock.days === 'number' && days <= lock.days) {
      issues.error(
        ['copy', 'to', 'objectLock', rule],
        `copy.to.objectLock.${rule}: ${days} days is not longer than objectLock.days (${lock.days}), which every object gets anyway`,
      );
    }
  }
}
