// VMs, backups, chains and points (docs/api.md#backups): the answers of `backups --json`; protect,
// unprotect (the commands, in this process), forget and verify (tasks).

import { Type } from '@sinclair/typebox';
import { kindOf } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import { captureCommand } from '../command-capture.js';
import { JsonText, type RouteCall, type RouteDef } from '../route.js';
import { planVm } from './plan-routes.js';
import { pointById, refuseBusyVm, startTask, taskRequest } from './route-helpers.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Vm = Type.Object({ vm: Type.String({ minLength: 1, maxLength: 200 }) });
const Wait = Type.Object({ wait: Type.Optional(Type.Boolean()) });
const Point = Type.Object(
  {},
  { additionalProperties: true, description: 'a point as `backups --json` prints it (docs/json-events.md)' },
);

/** `backups --json` for one VM or all: each point with its disks, space, restorability. */
export async function listPoints(call: RouteCall, vm?: string): Promise<Record<string, unknown>[]> {
  const captured = await captureCommand(call.api, 'backups', vm === undefined ? [] : ['--vm', vm]);
  return captured.lines.filter((line) => typeof line.id === 'string') as Record<string, unknown>[];
}

/**
 * The same points as the lines `backups --json` printed, joined into `{"backups":[…]}` unparsed: a VM
 * of 10,000 points is about 9 MB of JSON. Each point's line starts with its id (src/cli/backups-command.ts).
 */
async function pointsAnswer(call: RouteCall, vm?: string): Promise<JsonText> {
  const captured = await captureCommand(call.api, 'backups', vm === undefined ? [] : ['--vm', vm]);
  return new JsonText(`{"backups":[${captured.texts.filter((text) => text.startsWith('{"id":"')).join(',')}]}`);
}

type Chain = { id: string; vm: string; repository: string; points: Record<string, unknown>[] };

export function chainsOf(points: readonly Record<string, unknown>[]): Chain[] {
  const chains = new Map<string, Chain>();
  for (const point of points) {
    const id = String(point.chainId);
    const chain = chains.get(id) ?? { id, vm: String(point.vm), repository: String(point.repository), points: [] };
    chain.points.push(point);
    chains.set(id, chain);
  }
  return [...chains.values()];
}

async function vmList(call: RouteCall): Promise<Record<string, unknown>[]> {
  const points = await listPoints(call);
  const plans = (await call.api.plans.all()).filter((plan) => plan.valid);
  const names = new Set([
    ...points.map((point) => String(point.vm)),
    ...plans.map(planVm).filter((vm): vm is string => vm !== undefined),
  ]);
  return [...names].sort().map((vm) => {
    const own = points.filter((point) => point.vm === vm);
    const complete = own.filter((point) => point.status === 'complete');
    const newest = complete.reduce<Record<string, unknown> | undefined>(
      (best, point) => (best === undefined || String(point.startedAt) > String(best.startedAt) ? point : best),
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
  const captured = await captureCommand(call.api, protect ? 'protect' : 'unprotect', [point.vm, '--point', point.id]);
  return captured.lines.find((line) => line.type === 'protection') ?? captured.lines.at(-1) ?? {};
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
      return { vm: call.params.vm, chains: chainsOf(await listPoints(call, call.params.vm)) };
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
    response: Type.Object({ backups: Type.Array(Point) }),
    async handle(call) {
      const vm = (call.query.vm ?? call.query.vm_name) as string | undefined;
      return pointsAnswer(call, vm);
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
    response: Point,
    async handle(call) {
      const backup = await pointById(call, call.params.id);
      const points = await listPoints(call, backup.vm);
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
    async handle(call) {
      return protection(call, false);
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
