// VMs, backups, chains and points (docs/api.md#backups): the core's listing (src/core/list-points.ts,
// which `backups --json` prints too); protect, unprotect (src/core/set-protection.ts), forget and
// verify (tasks).

import { Type } from '@sinclair/typebox';
import { Cleared, clearSuspectPoint } from '../../core/clear-suspect-point.js';
import { ListedPoint, listPoints } from '../../core/list-points.js';
import { Protection, setProtection } from '../../core/set-protection.js';
import { kindOf } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import { cachedListing } from '../listing-cache.js';
import type { RouteCall, RouteDef } from '../route.js';
import { planVm } from './plan-routes.js';
import { pointById, refuseBusyVm, startTask, taskRequest } from './route-helpers.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Vm = Type.Object({ vm: Type.String({ minLength: 1, maxLength: 200 }) });
const Wait = Type.Object({ wait: Type.Optional(Type.Boolean()) });

type Chain = { id: string; vm: string; repository: string; points: ListedPoint[] };

export function chainsOf(points: readonly ListedPoint[]): Chain[] {
  const chains = new Map<string, Chain>();
  for (const point of points) {
    const id = point.chainId;
    const chain = chains.get(id) ?? { id, vm: point.vm, repository: point.repository, points: [] };
    chain.points.push(point);
    chains.set(id, chain);
  }
  return [...chains.values()];
}

async function vmList(call: RouteCall): Promise<Record<string, unknown>[]> {
  const points = await listPoints(call.api.store, {});
  const plans = (await call.api.plans.all()).filter((plan) => plan.valid);
  const names = new Set([
    ...points.map((point) => point.vm),
    ...plans.map(planVm).filter((vm): vm is string => vm !== undefined),
  ]);
  return [...names].sort().map((vm) => {
    const own = points.filter((point) => point.vm === vm);
    const complete = own.filter((point) => point.status === 'complete');
    const newest = complete.reduce<ListedPoint | undefined>(
      (best, point) => (best === undefined || point.startedAt > best.startedAt ? point : best),
      undefined,
    );
    return {
      name: vm,
      plans: plans.filter((plan) => planVm(plan) === vm).map((plan) => ({ name: plan.name, kind: plan.kind })),
      points: own.length,
      chains: new Set(own.map((point) => point.chainId)).size,
      newestPoint: newest ? { id: newest.id, takenAt: newest.startedAt, repository: newest.repository } : null,
      protectedByPlan: plans.some((plan) => planVm(plan) === vm && kindOf(plan.plan!).readsSource),
    };
  });
}

async function protection(call: RouteCall, protect: boolean): Promise<unknown> {
  const point = await pointById(call, call.params.id);
  return setProtection(call.api.store, { vm: point.vm, point: point.id, protected: protect });
}

export const backupRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/vms',
    role: 'audit',
    tag: 'backups',
    summary: 'The VMs the served plans name or the state holds points of: plans, points, chains, newest point',
    response: Type.Object({ vms: Type.Array(Type.Object({}, { additionalProperties: true })) }),
    async handle(call) {
      return { vms: await vmList(call) };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/vms/:vm/chains',
    role: 'audit',
    tag: 'backups',
    summary: "A VM's chains, each with its points oldest first",
    params: Vm,
    response: Type.Object({ vm: Type.String(), chains: Type.Array(Type.Object({}, { additionalProperties: true })) }),
    async handle(call) {
      call.target(`VM ${call.params.vm}`);
      return { vm: call.params.vm, chains: chainsOf(await listPoints(call.api.store, { vm: call.params.vm })) };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/backups',
    role: 'audit',
    tag: 'backups',
    summary: "Every point (or one VM's: ?vm=NAME; the old system's ?vm_name=NAME too), as `backups --json` prints them",
    querystring: Type.Object({
      vm: Type.Optional(Type.String({ maxLength: 200 })),
      vm_name: Type.Optional(Type.String({ maxLength: 200 })),
    }),
    response: Type.Object({ backups: Type.Array(ListedPoint) }),
    async handle(call) {
      const vm = (call.query.vm ?? call.query.vm_name) as string | undefined;
      return cachedListing(call.api.store, JSON.stringify([vm]), async () => {
        const backups = await listPoints(call.api.store, { vm });
        return { answer: { backups }, keep: backups.every((point) => point.status !== 'running') };
      });
    },
  },
  {
    method: 'GET',
    url: '/api/v1/backups/:id',
    role: 'audit',
    tag: 'backups',
    summary:
      'One point: kind, status, disks (file, size, change id), space, verified, protected, restorable, and its chain',
    params: Id,
    response: Type.Composite([ListedPoint, Type.Object({ chain: Type.Array(Type.String()) })], {
      additionalProperties: false,
    }),
    async handle(call) {
      const backup = await pointById(call, call.params.id);
      const points = await listPoints(call.api.store, { vm: backup.vm });
      const point = points.find((candidate) => candidate.id === backup.id);
      const chain = points.filter((candidate) => candidate.chainId === backup.chainId).map((candidate) => candidate.id);
      return { ...point, chain };
    },
  },
  {
    method: 'POST',
    url: '/api/v1/backups/:id/protect',
    role: 'operator',
    tag: 'backups',
    summary: 'Protect a point (`protect VM --point ID`): retention and forget leave it alone',
    action: 'protect',
    params: Id,
    response: Protection,
    async handle(call) {
      return protection(call, true);
    },
  },
  {
    method: 'POST',
    url: '/api/v1/backups/:id/unprotect',
    role: 'operator',
    tag: 'backups',
    summary: 'Give a protected point back to retention and forget (`unprotect VM --point ID`)',
    action: 'unprotect',
    params: Id,
    response: Protection,
    async handle(call) {
      return protection(call, false);
    },
  },
  {
    method: 'POST',
    url: '/api/v1/backups/:id/clear',
    role: 'operator',
    tag: 'backups',
    summary:
      'Clear a suspect point (`clear VM --point ID`, docs/anomaly.md): its record keeps the reasons and says who (the token) cleared it and when; the clean points it kept go back to retention',
    action: 'clear',
    params: Id,
    response: Cleared,
    async handle(call) {
      const point = await pointById(call, call.params.id);
      return clearSuspectPoint(call.api.store, point.vm, point.id, `token ${call.caller.token}`);
    },
  },
  {
    method: 'POST',
    url: '/api/v1/backups/:id/forget',
    role: 'operator',
    tag: 'backups',
    summary:
      'Forget a point (`forget VM --point ID`): merged into the next point, or removed with its files; a task. ?dryRun=true: what it would do',
    action: 'forget',
    params: Id,
    querystring: Type.Object({ wait: Type.Optional(Type.Boolean()), dryRun: Type.Optional(Type.Boolean()) }),
    startsTask: true,
    async handle(call) {
      const point = await pointById(call, call.params.id);
      const dryRun = call.query.dryRun === true;
      if (!dryRun) await refuseBusyVm(call, point.vm);
      return startTask(call, {
        operation: 'forget',
        title: `forget point ${point.id} of VM ${point.vm}${dryRun ? ' (dry-run)' : ''}`,
        request: taskRequest('forget', [point.vm], { '--point': point.id, '--dry-run': dryRun || undefined }),
      });
    },
  },
  {
    method: 'POST',
    url: '/api/v1/verify',
    role: 'operator',
    tag: 'backups',
    summary:
      "Check stored points against their manifests' digests (`verify [--vm NAME] [--backup ID] [--repository PATH]`): a task. It ends refused (exit 2) when an encrypted repository was left unverified for want of its key",
    action: 'verify',
    querystring: Wait,
    body: Type.Object(
      {
        vm: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        backup: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        repository: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' })),
      },
      { additionalProperties: false },
    ),
    startsTask: true,
    async handle(call) {
      const body = (call.body ?? {}) as { vm?: string; backup?: string; repository?: string };
      if (body.backup !== undefined) await pointById(call, body.backup);
      // A VM is a name to look up, never a word for the command: one with no points is a 404.
      if (body.vm !== undefined) refuseUnknownVm(body.vm, await call.api.store.listBackups({ vm: body.vm }));
      if (body.backup === undefined)
        call.target(
          [body.vm ? `VM ${body.vm}` : 'every point', body.repository ? `in ${body.repository}` : '']
            .filter(Boolean)
            .join(' '),
        );
      const request = taskRequest('verify', [], {
        '--vm': body.vm,
        '--backup': body.backup,
        '--repository': body.repository,
      });
      return startTask(call, {
        operation: 'verify',
        title: `verify ${body.backup ? `point ${body.backup}` : body.vm ? `VM ${body.vm}` : 'every point'}`,
        request,
      });
    },
  },
];

export function refuseUnknownVm(vm: string, points: readonly unknown[]): void {
  if (points.length === 0) throw new ApiError('not-found', `no backup of VM ${vm}`, 'vm');
}
