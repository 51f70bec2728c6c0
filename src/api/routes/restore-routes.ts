// An ad-hoc restore of a point (docs/api.md#backups) into files, NBD exports or a new libvirt
// domain: a typed body, checked here (one 400 naming the field at fault), then the `restore`
// command as a task (src/cli/restore-command.ts), so the API and the CLI share one
// implementation, the restore plan's engine.

import { Type } from '@sinclair/typebox';
import { planDataErrors } from '../../plan/plan-from-data.js';
import { formatPlanPath } from '../../plan/plan-issue.js';
import { adhocRestoreData, type AdhocRestore, type AdhocTarget } from '../../restore/adhoc-restore.js';
import { targetProblem, type RestoreField } from '../../restore/target-problem.js';
import type { Backup } from '../../store/index.js';
import { ApiError } from '../api-error.js';
import type { RouteCall, RouteDef } from '../route.js';
import { roleAllows } from '../roles.js';
import { pointById, refuseBusyVm, startTask, taskRequest } from './route-helpers.js';

const TargetType = Type.Union([
  Type.Literal('file'),
  Type.Literal('directory'),
  Type.Literal('nbd'),
  Type.Literal('domain'),
]);

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
        domain: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        start: Type.Optional(Type.Boolean()),
        network: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('keep')])),
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
    readonly type: 'file' | 'directory' | 'nbd' | 'domain';
    path?: string;
    url?: string;
    format?: 'qcow2' | 'raw';
    domain?: string;
    start?: boolean;
    network?: 'none' | 'keep';
  };
  readonly overwrite?: boolean;
  readonly verify?: boolean;
}

// The body's field a plan check's path is about.
const FIELD_OF_PLAN_PATH: Readonly<Record<string, RestoreField>> = {
  'restore.target.path': 'target.path',
  'restore.target.url': 'target.url',
  'restore.target.domain': 'target.domain',
  'restore.disks': 'disks',
};

export const restoreRoutes: readonly RouteDef[] = [
  {
    method: 'POST',
    url: '/api/v1/backups/:id/restore',
    role: 'restore',
    tag: 'backups',
    summary:
      "Restore a point's disks on the hub's host (`restore VM --point ID --target …`): into image files (`target.type` file: `path` with {key} when several disks; directory: one image per disk, VM-KEY.FORMAT) or NBD exports (`url`), or a new libvirt domain (`target.type` domain, the operator role or higher: `domain` its name, `path` the directory of its qcow2 images, DOMAIN-KEY.qcow2, `start` default false, `network` none (default) or keep; a name that exists is refused); `overwrite` replaces existing files, `verify` (default true) compares them with the backup chain. A task; a target refused is a 400 naming the field",
    action: 'restore',
    params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
    querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }),
    body: RestoreBody,
    startsTask: true,
    async handle(call) {
      const body = call.body as Body;
      // Defining (and maybe starting) a VM on the hub's host is the operator's (docs/api.md#tokens-and-roles).
      if (body.target.type === 'domain' && !roleAllows(call.caller.role, 'operator'))
        throw new ApiError(
          'forbidden',
          `a restore to a new libvirt domain (target.type domain) needs the operator role or higher; token ${call.caller.token} has ${call.caller.role}`,
          'target.type',
        );
      const backup = await pointById(call, call.params.id);
      const restore = checkedRestore(backup, body);
      await refuseBusyVm(call, backup.vm);
      const { target } = restore;
      const where =
        target.kind === 'nbd'
          ? target.url
          : target.kind === 'domain'
            ? `${target.domain} in ${target.path}`
            : target.path;
      return startTask(call, {
        operation: 'restore',
        title: `restore point ${backup.id} of VM ${backup.vm} to ${body.target.type} ${where}`,
        request: taskRequest('restore', [backup.vm], {
          '--point': backup.id,
          '--disk': restore.disks?.map(String),
          '--target': restoreTargetOption(target),
          '--format': target.kind === 'nbd' || target.kind === 'domain' ? undefined : target.format,
          '--path': target.kind === 'domain' ? target.path : undefined,
          '--start': (target.kind === 'domain' && target.start) || undefined,
          '--network': target.kind === 'domain' ? target.network : undefined,
          '--overwrite': restore.overwrite || undefined,
          '--no-verify': restore.verify ? undefined : true,
          '--key-file': await servedKeyFile(call, backup.repository),
        }),
        env: { SENDENSE_API_ACTOR: call.caller.token },
      });
    },
  },
];

// The command's --target for the restore's target.
function restoreTargetOption(target: AdhocTarget): string {
  if (target.kind === 'nbd') return `nbd:${target.url}`;
  if (target.kind === 'domain') return `domain:${target.domain}`;
  return `${target.kind}:${target.path}`;
}

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
  if (target.type === 'domain') return domainTarget(target);
  const stray = (['domain', 'start', 'network'] as const).find((field) => target[field] !== undefined);
  if (stray !== undefined)
    throw new ApiError('bad-request', `target.${stray} goes with a domain target only`, `target.${stray}`);
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

// A new libvirt domain on qcow2 images in the directory `path`, named DOMAIN-KEY.qcow2.
function domainTarget(target: Body['target']): AdhocTarget {
  if (target.domain === undefined)
    throw new ApiError('bad-request', "a domain target needs its domain (the new domain's name)", 'target.domain');
  if (target.path === undefined)
    throw new ApiError(
      'bad-request',
      'a domain target needs its path (the directory of its disk images)',
      'target.path',
    );
  if (target.url !== undefined)
    throw new ApiError('bad-request', 'a domain target takes a path, not a url', 'target.url');
  if (target.format !== undefined && target.format !== 'qcow2')
    throw new ApiError('bad-request', 'a domain target writes qcow2 images', 'target.format');
  return {
    kind: 'domain',
    domain: target.domain,
    path: target.path,
    start: target.start ?? false,
    network: target.network ?? 'none',
  };
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
