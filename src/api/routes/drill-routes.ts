// A VM's drills and a drill's screenshot (docs/api.md#drills, docs/drills.md#what-a-drill-records).
// A drill itself runs as its plan's run (POST /api/v1/plans/NAME/run, a task).

import { Type } from '@sinclair/typebox';
import { ListedDrill, listDrillsOfVm } from '../../core/list-drills.js';
import { ApiError } from '../api-error.js';
import { REPLIED, type RouteDef } from '../route.js';

const Vm = Type.Object({ vm: Type.String({ minLength: 1, maxLength: 200 }) });
const Run = Type.Object({ run: Type.String({ minLength: 1, maxLength: 200 }) });

export const drillRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/vms/:vm/drills',
    role: 'audit',
    tag: 'backups',
    summary:
      "A VM's drills, newest first (?limit=N, default 10): outcome, each check's status, time and finding, boot and recovery seconds, the point, the run",
    params: Vm,
    querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
    response: Type.Object({ vm: Type.String(), drills: Type.Array(ListedDrill) }),
    async handle(call) {
      call.target(`VM ${call.params.vm}`);
      const limit = (call.query.limit as number | undefined) ?? 10;
      return { vm: call.params.vm, drills: await listDrillsOfVm(call.api.store, call.params.vm!, limit) };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/drills/:run/screenshot',
    role: 'restore',
    tag: 'backups',
    summary: "The screenshot (PNG) of the guest's screen a drill's run took: guest data, for the restore role",
    action: 'drill-screenshot',
    params: Run,
    produces: 'image/png',
    async handle(call) {
      const runId = call.params.run!;
      call.target(`drill ${runId}`);
      const drill = await call.api.store.drillOfRun(runId);
      if (drill === undefined) throw new ApiError('not-found', `no drill was recorded for run ${runId}`, 'run');
      if (drill.screenshotPng === null)
        throw new ApiError('not-found', `the drill of run ${runId} kept no screenshot`, 'run');
      const png = Buffer.from(drill.screenshotPng, 'base64');
      call.startDownload();
      await call.reply.type('image/png').header('cache-control', 'no-store').send(png);
      return REPLIED;
    },
  },
];
