// Instant recovery and failback from the API (docs/api.md#backups, #replicas-and-failover): a point
// served over NBD (`serve VM --point ID`, a task that serves until cancelled) and a replicate plan
// switched back to its original domain (`failback PLAN.yaml`, a task). Each runs its CLI command
// with the typed request on stdin, as every task does.

import { Type } from '@sinclair/typebox';
import { kindOf } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import type { RouteDef } from '../route.js';
import { pointById, servedPlan, startTask, taskRequest } from './route-helpers.js';
import { servedKeyFile } from './restore-routes.js';

const Wait = Type.Object({ wait: Type.Optional(Type.Boolean()) });

export const recoveryRoutes: readonly RouteDef[] = [
  {
    method: 'POST',
    url: '/api/v1/backups/:id/serve',
    role: 'operator',
    tag: 'backups',
    summary:
      "Serve a point's disks over NBD, read-only, on Unix sockets of the hub's host (`serve VM --point ID`): a task whose output names each disk's URL and that serves until it is cancelled (POST /api/v1/tasks/{id}/cancel), then gives everything back (operator: the role that may cancel it). `disks`: only these",
    action: 'serve',
    params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
    querystring: Wait,
    body: Type.Optional(
      Type.Object(
        {
          disks: Type.Optional(
            Type.Array(Type.Integer({ minimum: 0, maximum: 2 ** 31 }), {
              minItems: 1,
              maxItems: 256,
              uniqueItems: true,
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    startsTask: true,
    async handle(call) {
      const backup = await pointById(call, call.params.id);
      if (backup.status !== 'complete')
        throw new ApiError(
          'conflict',
          `backup ${backup.id} is ${backup.status}, not complete: it cannot be served`,
          'id',
        );
      const disks = (call.body as { disks?: readonly number[] } | undefined)?.disks;
      const keys = backup.disks.map((disk) => disk.diskKey);
      const missing = disks?.find((key) => !keys.includes(key));
      if (missing !== undefined)
        throw new ApiError(
          'bad-request',
          `backup ${backup.id} of VM ${backup.vm} has no disk ${missing} (it has ${keys.join(', ')})`,
          'disks',
        );
      return startTask(call, {
        operation: 'serve',
        title: `serve point ${backup.id} of VM ${backup.vm}`,
        request: taskRequest('serve', [backup.vm], {
          '--point': backup.id,
          '--disk': disks?.map(String),
          '--key-file': await servedKeyFile(call, backup.repository),
        }),
      });
    },
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/failback',
    role: 'admin',
    tag: 'replicas',
    summary:
      'After a failover, switch a replicate plan back to its original domain (`failback PLAN.yaml`): a task. A plan that has not failed over ends refused',
    action: 'failback',
    params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }),
    querystring: Wait,
    startsTask: true,
    async handle(call) {
      const plan = await servedPlan(call, call.params.name);
      if (kindOf(plan.plan!).pointsOn !== 'replica')
        throw new ApiError(
          'bad-request',
          `plan ${plan.name} is a ${plan.kind} plan: failback needs a plan with a replica (kind replicate)`,
          'name',
        );
      return startTask(call, {
        operation: 'failback',
        title: `failback of plan ${plan.name}`,
        request: taskRequest('failback', [plan.file], {}),
      });
    },
  },
];
