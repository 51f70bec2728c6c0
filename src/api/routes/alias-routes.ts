// The old system's routes (docs/api.md#old-system-routes), kept as thin aliases onto the routes of
// this API: same roles, same code, the old field names. `GET /api/v1/backups?vm_name=` and
// `GET /api/v1/backups/{id}` are the new routes themselves.

import { Type } from '@sinclair/typebox';
import { listPoints } from '../../core/list-points.js';
import { kindOf } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import type { RouteCall, RouteDef } from '../route.js';
import { chainsOf } from './backup-routes.js';
import { pointKey, requiredPath, sendArchive, sendFile } from './file-routes.js';
import { planVm } from './plan-routes.js';
import { repositoryById, planRepository } from './repository-routes.js';
import { refuseBusyVm, startTask, taskRequest } from './route-helpers.js';

const Mount = Type.Object({ mount_id: Type.String({ minLength: 1, maxLength: 200 }) });
const PathQuery = Type.Object({
  path: Type.Optional(Type.String({ maxLength: 8192 })),
  disk: Type.Optional(Type.String({ maxLength: 64 })),
});

// The served backup plan of that VM (and repository: its number, path or folder name, see
// GET /api/v1/repositories): a plan that reads the VM's source into a repository. backup_type is
// taken but the plan decides (an incremental plan takes a full when its chain needs one); with
// several, the first by name.
async function backupPlanFor(call: RouteCall, vm: string, repositoryId: string | undefined) {
  const plans = (await call.api.plans.all()).filter(
    (plan) =>
      plan.valid &&
      planVm(plan) === vm &&
      kindOf(plan.plan!).readsSource &&
      kindOf(plan.plan!).pointsOn === 'repository',
  );
  const repository = repositoryId === undefined ? undefined : await repositoryById(call, repositoryId);
  const inRepository = plans.filter((plan) => repository === undefined || planRepository(plan) === repository.path);
  if (inRepository.length === 0)
    throw new ApiError(
      'not-found',
      `no served backup plan of VM ${vm}${repository ? ` into repository ${repository.id} (${repository.path})` : ''} (the API runs plans; see GET /api/v1/plans)`,
      'vm_name',
    );
  return inRepository[0];
}

export const aliasRoutes: readonly RouteDef[] = [
  {
    method: 'POST',
    url: '/api/v1/backups',
    role: 'operator',
    tag: 'old-system',
    summary:
      'Old system: start a backup of vm_name (into repository_id: its number as GET /api/v1/repositories lists it, its path or its folder name). Runs the served backup plan of that VM: as POST /api/v1/plans/{name}/run',
    aliasOf: 'POST /api/v1/plans/{name}/run',
    action: 'run',
    querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }),
    body: Type.Object(
      {
        vm_name: Type.String({ minLength: 1, maxLength: 200 }),
        repository_id: Type.Optional(Type.String({ maxLength: 4096 })),
        backup_type: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('incremental')])),
      },
      { additionalProperties: false },
    ),
    startsTask: true,
    async handle(call) {
      const body = call.body as { vm_name: string; repository_id?: string; backup_type?: string };
      const plan = await backupPlanFor(call, body.vm_name, body.repository_id);
      call.target(`plan ${plan.name}`);
      await refuseBusyVm(call, body.vm_name);
      return startTask(call, {
        operation: 'run',
        title: `run plan ${plan.name}`,
        request: taskRequest('run', [plan.file], {}),
        env: { SENDENSE_API_ACTOR: call.caller.token },
      });
    },
  },
  {
    method: 'GET',
    url: '/api/v1/backups/chain/:vm_name',
    role: 'audit',
    tag: 'old-system',
    summary: "Old system: a VM's chains: as GET /api/v1/vms/{vm}/chains",
    aliasOf: 'GET /api/v1/vms/{vm}/chains',
    params: Type.Object({ vm_name: Type.String({ minLength: 1, maxLength: 200 }) }),
    async handle(call) {
      const vm = call.params.vm_name;
      call.target(`VM ${vm}`);
      return { vm, chains: chainsOf(await listPoints(call.api.store, { vm })) };
    },
  },
  {
    method: 'POST',
    url: '/api/v1/restore/mount',
    role: 'restore',
    tag: 'old-system',
    summary:
      "Old system: open a point's files for browsing. The mount_id is the point's id; the browse session stays warm a few minutes: as GET /api/v1/backups/{id}/files",
    aliasOf: 'GET /api/v1/backups/{id}/files',
    action: 'files-list',
    body: Type.Object(
      { backup_id: Type.String({ minLength: 1, maxLength: 200 }), disk: Type.Optional(Type.String({ maxLength: 64 })) },
      { additionalProperties: false },
    ),
    async handle(call) {
      const body = call.body as { backup_id: string; disk?: string };
      const key = await pointKey({ ...call, query: { ...(body.disk ? { disk: body.disk } : {}) } }, body.backup_id);
      return {
        mount_id: key.point,
        backup_id: key.point,
        vm: key.vm,
        // Old clients wait for the appliance, as they always did (no 202 to poll).
        filesystems: await call.api.files.filesystems(key, { wait: true }),
      };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/restore/:mount_id/files',
    role: 'restore',
    tag: 'old-system',
    summary: 'Old system: a directory of a mounted point (?path=NAME:/DIR): as GET /api/v1/backups/{id}/files',
    aliasOf: 'GET /api/v1/backups/{id}/files',
    action: 'files-list',
    params: Mount,
    querystring: PathQuery,
    async handle(call) {
      const key = await pointKey(call, call.params.mount_id);
      const path = call.query.path as string | undefined;
      return path ? call.api.files.list(key, path, { wait: true }) : call.api.files.filesystems(key, { wait: true });
    },
  },
  {
    method: 'GET',
    url: '/api/v1/restore/:mount_id/download',
    role: 'restore',
    tag: 'old-system',
    summary: 'Old system: one file of a mounted point: as GET /api/v1/backups/{id}/files/download',
    aliasOf: 'GET /api/v1/backups/{id}/files/download',
    action: 'files-download',
    params: Mount,
    querystring: PathQuery,
    produces: 'application/octet-stream',
    async handle(call) {
      return sendFile(call, await pointKey(call, call.params.mount_id), requiredPath(call));
    },
  },
  {
    method: 'GET',
    url: '/api/v1/restore/:mount_id/download-directory',
    role: 'restore',
    tag: 'old-system',
    summary: 'Old system: a folder of a mounted point as a ZIP: as GET /api/v1/backups/{id}/files/archive',
    aliasOf: 'GET /api/v1/backups/{id}/files/archive',
    action: 'files-archive',
    params: Mount,
    querystring: PathQuery,
    produces: 'application/zip',
    async handle(call) {
      return sendArchive(call, await pointKey(call, call.params.mount_id), requiredPath(call), 'zip');
    },
  },
];
