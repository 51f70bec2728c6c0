// An ad-hoc restore of a point (docs/api.md#backups): a typed body, checked here (one 400 naming
// the field at fault), then the `restore` command as a task (src/cli/restore-command.ts), so the
// API and the CLI share one implementation, the restore plan's engine.

import { Type } from '@sinclair/typebox';
import { planDataErrors } from '../../plan/plan-from-data.js';
import { formatPlanPath } from '../../plan/plan-issue.js';
import { adhocRestoreData, type AdhocRestore, type AdhocTarget } from '../../restore/adhoc-restore.js';
import { targetProblem, type RestoreField } from '../../restore/target-problem.js';
import type { Backup } from '../../store/index.js';
import { ApiError } from '../api-error.js';
import type { RouteCall, RouteDef } from '../route.js';
import { pointById, refuseBusyVm, startTask, taskRequest } from './route-helpers.js';

const TargetType = Type.Union([Type.Literal('file'), Type.Literal('directory'), Type.Literal('nbd')]);

export const RestoreBody = Type.Object(
  {
    disks: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 2 ** 31 }), { minItems: 1, maxItems: 256, uniqueItems: true }),
    ),
    target: Type.Object(
      {
        type: TargetType,
        path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        url: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw')])),
      },
      { additionalProperties: false },
    ),
    overwrite: Type.Optional(Type.Boolean()),
    verify: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

interface Body {
  readonly disks?: readonly number[];
  readonly target: {
    readonly type: 'file' | 'directory' | 'nbd';
    path?: string;
    url?: string;
    format?: 'qcow2' | 'raw';
  };
  readonly overwrite?: boolean;
  readonly verify?: boolean;
}

// The body's field a plan check's path is about.
const FIELD_OF_PLAN_PATH: Readonly<Record<string, RestoreField>> = {
  'restore.target.path': 'target.path',
  'restore.target.url': 'target.url',
  'restore.disks': 'disks',
};

export const restoreRoutes: readonly RouteDef[] = [
  {
    method: 'POST',
    url: '/api/v1/backups/:id/restore',
    role: 'restore',
    tag: 'backups',
    summary:
      "Restore a point's disks on the hub's host (`restore VM --point ID --target …`): into image files (`target.type` file: `path` with {key} when several disks; directory: one image per disk, VM-KEY.FORMAT) or NBD exports (`url`); `overwrite` replaces existing files, `verify` (default true) compares them with the backup chain. A task; a target refused is a 400 naming the field",
    action: 'restore',
    params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
    querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }),
    body: RestoreBody,
    startsTask: true,
    async handle(call) {
      const backup = await pointById(call, call.params.id);
      const body = call.body as Body;
      const restore = checkedRestore(backup, body);
      await refuseBusyVm(call, backup.vm);
      const { target } = restore;
      const where = target.kind === 'nbd' ? target.url : target.path;
      return startTask(call, {
        operation: 'restore',
        title: `restore point ${backup.id} of VM ${backup.vm} to ${body.target.type} ${where}`,
        request: taskRequest('restore', [backup.vm], {
          '--point': backup.id,
          '--disk': restore.disks?.map(String),
          '--target': target.kind === 'nbd' ? `nbd:${target.url}` : `${target.kind}:${target.path}`,
          '--format': target.kind === 'nbd' ? undefined : target.format,
          '--overwrite': restore.overwrite || undefined,
          '--no-verify': restore.verify ? undefined : true,
          '--key-file': await servedKeyFile(call, backup.repository),
        }),
        env: { SENDENSE_API_ACTOR: call.caller.token },
      });
    },
  },
];

// The restore the body asks for, or the one refusal that names its field.
function checkedRestore(backup: Backup, body: Body): AdhocRestore {
  if (backup.status !== 'complete')
    throw new ApiError(
      'conflict',
      `backup ${backup.id} is ${backup.status}, not complete: it cannot be restored`,
      'id',
    );
  const keys = backup.disks.map((disk) => disk.diskKey);
  const missing = body.disks?.find((key) => !keys.includes(key));
  if (missing !== undefined)
    throw new ApiError(
      'bad-request',
      `backup ${backup.id} of VM ${backup.vm} has no disk ${missing} (it has ${keys.join(', ')})`,
      'disks',
    );
  const restore: AdhocRestore = {
    vm: backup.vm,
    point: backup.id,
    repository: backup.repository,
    disks: body.disks,
    target: requestedTarget(body.target),
    overwrite: body.overwrite ?? false,
    verify: body.verify ?? true,
  };
  const problem = targetProblem(restore, body.disks ?? keys);
  if (problem !== undefined) {
    const hint = problem.field === 'overwrite' ? ' (set overwrite: true to replace it)' : '';
    throw new ApiError('bad-request', `${problem.message}${hint}`, problem.field);
  }
  // The checks a plan file gets, on the plan the task will run (an nbd URL's form, for one).
  const error = planDataErrors(adhocRestoreData(restore))[0];
  if (error !== undefined) {
    const field = FIELD_OF_PLAN_PATH[formatPlanPath(error.path)] ?? 'target';
    throw new ApiError('bad-request', error.message, field);
  }
  return restore;
}

function requestedTarget(target: Body['target']): AdhocTarget {
  if (target.type === 'nbd') {
    if (target.url === undefined) throw new ApiError('bad-request', 'an nbd target needs its url', 'target.url');
    if (target.path !== undefined || target.format !== undefined)
      throw new ApiError('bad-request', 'an nbd target takes a url, not a path or format', 'target.path');
    return { kind: 'nbd', url: target.url };
  }
  if (target.path === undefined)
    throw new ApiError('bad-request', `a ${target.type} target needs its path`, 'target.path');
  if (target.url !== undefined)
    throw new ApiError('bad-request', `a ${target.type} target takes a path, not a url`, 'target.url');
  return { kind: target.type === 'file' ? 'file' : 'dir', path: target.path, format: target.format ?? 'qcow2' };
}

// An encrypted repository's key file, as a served plan of that repository names it (a path, never
// the key): the task opens the point with it. None: the task ends refused, saying a key is needed.
export async function servedKeyFile(call: RouteCall, repository: string): Promise<string | undefined> {
  for (const served of await call.api.plans.all()) {
    const plan = served.valid ? served.plan : undefined;
    const encryption = plan !== undefined && 'repository' in plan ? plan.repository?.encryption : undefined;
    if (
      plan !== undefined &&
      'repository' in plan &&
      plan.repository?.path === repository &&
      encryption &&
      'keyFile' in encryption
    )
      return encryption.keyFile;
  }
  return undefined;
}
