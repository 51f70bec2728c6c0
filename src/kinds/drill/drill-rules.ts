// drill (docs/drills.md): a repository or a replica (drill.replica) to drill, not both; a valid
// point (new, latest, an id or a time; a replica's: no time), an absolute scratch
// directory, and each heartbeat saying what it waits for (a console pattern that is a valid
// regular expression, or the guest agent).

import path from 'node:path';
import { hasEnvRef } from '../../plan/env-refs.js';
import { isObject, listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import type { CheckContext } from '../../plan/checks/check-context.js';

export function checkDrillRules({ data, issues }: CheckContext): void {
  const point = stringAt(data, 'drill', 'point');
  if (point !== undefined && point !== '' && point !== 'new') {
    const parsed = parseRestorePoint(point);
    if (typeof parsed === 'string')
      issues.error(['drill', 'point'], `drill.point: ${parsed.replace('must be latest,', 'must be new, latest,')}`);
  }
  checkPointSource(data, point, issues);
  const scratch = stringAt(data, 'drill', 'scratch');
  if (scratch !== undefined && !hasEnvRef(scratch) && !path.posix.isAbsolute(scratch))
    issues.error(['drill', 'scratch'], `drill.scratch: must be an absolute path on the node (got '${scratch}')`);
  listAt(data, 'drill', 'checks').forEach((check, index) => {
    const heartbeat = isObject(check) ? check.heartbeat : undefined;
    if (!isObject(heartbeat)) return;
    const where = ['drill', 'checks', index, 'heartbeat'];
    const pattern = valueAt(heartbeat, 'console');
    if (pattern === undefined && heartbeat.agent !== true)
      issues.error(
        where,
        `drill.checks[${index}].heartbeat: give console (a pattern of a console line) or agent: true`,
      );
    if (typeof pattern === 'string') {
      try {
        new RegExp(pattern, 'm');
      } catch (error) {
        issues.error(
          [...where, 'console'],
          `drill.checks[${index}].heartbeat.console: not a regular expression: ${(error as Error).message}`,
        );
      }
    }
  });
}

// A repository's point or a replica's (drill.replica), one of them; a replica's by latest, new or its id.
function checkPointSource(data: unknown, point: string | undefined, issues: CheckContext['issues']): void {
  const replica = stringAt(data, 'drill', 'replica');
  const repository = valueAt(data, 'repository');
  if (replica === undefined) {
    if (repository === undefined)
      issues.error(
        ['repository'],
        "repository: give the repository whose point is drilled, or drill.replica (a replicate plan's name)",
      );
    return;
  }
  if (repository !== undefined)
    issues.error(
      ['drill', 'replica'],
      `drill.replica: a drill of replicate plan ${replica}'s replica reads no repository: remove repository, or drill.replica`,
    );
  const parsed = point === undefined || point === 'new' ? undefined : parseRestorePoint(point);
  if (parsed !== undefined && typeof parsed !== 'string' && parsed.type !== 'latest' && parsed.type !== 'id')
    issues.error(
      ['drill', 'point'],
      `drill.point: with drill.replica, must be new, latest or a replica point's id (got '${point}')`,
    );
}
