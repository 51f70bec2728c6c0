// Plans and tasks (docs/api.md#plans, #tasks): the plans served, each with its validation findings;
// running one (or its dry-run) is a task: the CLI's `run` as a child process.

import { Type } from '@sinclair/typebox';
import { Cron } from 'croner';
import { stepNames } from '../../kinds/kind.js';
import { loadKind, planRunRole as kindRunRole } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import { roleAllows, type Role } from '../roles.js';
import type { ServedPlan } from '../plan-set.js';
import { REPLIED, type ApiContext, type RouteCall, type RouteDef } from '../route.js';
import { refuseBusyVm, servedPlan, startTask, taskJson, taskRequest } from './route-helpers.js';

const Name = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Wait = Type.Object({
  wait: Type.Optional(Type.Boolean({ description: 'answer once the task has ended (200) instead of at once (202)' })),
});
const Task = Type.Object(
  {
    id: Type.String(),
    operation: Type.String(),
    title: Type.String(),
    token: Type.Union([Type.String(), Type.Null()]),
    status: Type.String({
      description: 'running, succeeded, failed, cancelled, refused, or lost (the server ended while it ran)',
    }),
    startedAt: Type.String(),
    endedAt: Type.Union([Type.String(), Type.Null()]),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    runId: Type.Union([Type.String(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    events: Type.String({ description: 'the URL of its events' }),
  },
  { additionalProperties: true },
);
const PlanJson = Type.Object(
  {
    name: Type.String(),
    file: Type.String(),
    kind: Type.Optional(Type.String()),
    vm: Type.Optional(Type.String()),
    schedule: Type.Optional(Type.String()),
    timezone: Type.Optional(Type.String()),
    nextRuns: Type.Optional(Type.Array(Type.String())),
    valid: Type.Boolean(),
    findings: Type.Array(Type.String()),
    steps: Type.Optional(
      Type.Array(Type.String(), {
        description: 'one plan: the steps a run of it takes, in order (run-start lists them)',
      }),
    ),
  },
  { additionalProperties: true },
);

function planJson(plan: ServedPlan, next = 0): Record<string, unknown> {
  const vm = (plan.plan as { vm?: { name?: string } } | undefined)?.vm?.name;
  const nextRuns =
    plan.schedule && next > 0
      ? new Cron(plan.schedule, { paused: true, ...(plan.timezone ? { timezone: plan.timezone } : {}) })
          .nextRuns(next)
          .map((at) => at.toISOString())
      : undefined;
  return {
    name: plan.name,
    file: plan.file,
    ...(plan.kind ? { kind: plan.kind } : {}),
    ...(vm ? { vm } : {}),
    ...(plan.schedule ? { schedule: plan.schedule } : {}),
    ...(plan.timezone ? { timezone: plan.timezone } : {}),
    ...(nextRuns ? { nextRuns } : {}),
    valid: plan.valid,
    findings: plan.findings,
    ...(plan.plan ? { runRole: kindRunRole(plan.plan) } : {}),
  };
}

export function planVm(plan: ServedPlan): string | undefined {
  return (plan.plan as { vm?: { name?: string } } | undefined)?.vm?.name;
}

// The restore role runs restore plans only (not those defining a domain); every other plan needs operator.
function runRoleOf(plan: ServedPlan): Role {
  return kindRunRole(plan.plan!);
}

// The role running this plan needs, for a refusal that names it (undefined: no such valid plan).
async function planRunRole(params: Readonly<Record<string, string>>, api: ApiContext): Promise<Role | undefined> {
  const plan = params.name === undefined ? undefined : await api.plans.find(params.name);
  return plan?.valid && plan.plan ? runRoleOf(plan) : undefined;
}

async function runPlanTask(call: RouteCall, dryRun: boolean): Promise<unknown> {
  const plan = await servedPlan(call, call.params.name);
  const needed = runRoleOf(plan);
  if (!roleAllows(call.caller.role, needed)) {
    throw new ApiError(
      'forbidden',
      `running plan ${plan.name} (${plan.kind}) needs the ${needed} role or higher; token ${call.caller.token} has ${call.caller.role}`,
    );
  }
  if (!dryRun) await refuseBusyVm(call, planVm(plan));
  return startTask(call, {
    operation: dryRun ? 'dry-run' : 'run',
    title: `${dryRun ? 'dry-run of' : 'run'} plan ${plan.name}`,
    request: taskRequest('run', [plan.file], { '--dry-run': dryRun || undefined }),
    env: dryRun ? {} : { SENDENSE_API_ACTOR: call.caller.token },
  });
}

export const planRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/plans',
    role: 'audit',
    tag: 'plans',
    summary: 'The plans served, valid or not, with their schedule and validation findings',
    response: Type.Object({ plans: Type.Array(PlanJson), problems: Type.Array(Type.String()) }),
    async handle(call) {
      return {
        plans: (await call.api.plans.all()).map((plan) => planJson(plan)),
        problems: await call.api.plans.pathProblems(),
      };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/plans/:name',
    role: 'audit',
    tag: 'plans',
    summary: 'One plan: its file, kind, VM, schedule and next 5 runs, validation findings, and its last runs',
    params: Name,
    response: PlanJson,
    async handle(call) {
      const plan = await servedPlan(call, call.params.name, { valid: false });
      const runs = await call.api.store.listRuns({ plan: plan.name, limit: 10 });
      // The steps a run takes (run-start's list): the console shows them before the run's first event.
      const steps = plan.plan ? stepNames(await loadKind(plan.plan)) : undefined;
      return { ...planJson(plan, 5), lastRuns: runs, ...(steps ? { steps: [...steps] } : {}) };
    },
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/run',
    role: 'restore',
    tag: 'plans',
    summary:
      'Run the plan now, as `sendense-run PLAN.yaml` would: a task (202; ?wait=true: 200 once ended). 409 when its VM is busy. The restore role may run restore plans only (not one to a new libvirt domain), every other plan needs operator',
    action: 'run',
    params: Name,
    querystring: Wait,
    startsTask: true,
    response: Task,
    neededRole: planRunRole,
    handle: (call) => runPlanTask(call, false),
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/dry-run',
    role: 'operator',
    tag: 'plans',
    summary: 'The steps a run would take (`run PLAN.yaml --dry-run`): a task whose events are the resolved steps',
    action: 'dry-run',
    params: Name,
    querystring: Wait,
    startsTask: true,
    response: Task,
    handle: (call) => runPlanTask(call, true),
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/prune',
    role: 'operator',
    tag: 'plans',
    summary: "Apply the plan's retention now (`prune PLAN.yaml`): a task",
    action: 'prune',
    params: Name,
    querystring: Wait,
    startsTask: true,
    response: Task,
    async handle(call) {
      const plan = await servedPlan(call, call.params.name);
      return startTask(call, {
        operation: 'prune',
        title: `prune plan ${plan.name}`,
        request: taskRequest('prune', [plan.file], {}),
      });
    },
  },
  {
    method: 'GET',
    url: '/api/v1/tasks',
    role: 'audit',
    tag: 'tasks',
    summary: 'The tasks (runs and long operations) started through the API, newest first',
    querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
    response: Type.Object({ tasks: Type.Array(Task) }),
    async handle(call) {
      const limit = (call.query.limit as number | undefined) ?? 100;
      return { tasks: (await call.api.tasks.list(limit)).map(taskJson) };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/tasks/:id',
    role: 'audit',
    tag: 'tasks',
    summary: 'One task as it stands',
    params: Id,
    querystring: Wait,
    response: Task,
    async handle(call) {
      const found = await call.api.tasks.get(call.params.id);
      if (found === undefined) throw new ApiError('not-found', `no task ${call.params.id}`, 'id');
      const task = call.query.wait === true ? ((await call.api.tasks.waitFor(found.id)) ?? found) : found;
      return taskJson(task);
    },
  },
  {
    method: 'POST',
    url: '/api/v1/tasks/:id/cancel',
    role: 'operator',
    tag: 'tasks',
    summary:
      'Cancel a running task: what Ctrl+C does (the run stops, gives back what it took, ends cancelled). 409 when it is not running',
    action: 'cancel',
    params: Id,
    querystring: Wait,
    response: Task,
    async handle(call) {
      const found = await call.api.tasks.get(call.params.id);
      if (found === undefined) throw new ApiError('not-found', `no task ${call.params.id}`, 'id');
      call.target(`task ${found.id} (${found.title})`);
      if (!call.api.tasks.cancel(found.id))
        throw new ApiError('conflict', `task ${found.id} is not running here (it is ${found.status})`);
      const task =
        call.query.wait === true
          ? ((await call.api.tasks.waitFor(found.id)) ?? found)
          : ((await call.api.tasks.get(found.id)) ?? found);
      return taskJson(task);
    },
  },
  {
    method: 'GET',
    url: '/api/v1/tasks/:id/events',
    role: 'audit',
    tag: 'tasks',
    summary:
      "The task's events, the lines `--json` prints, as server-sent events (id: the event's number; resumable with Last-Event-ID; an `end` event with the task last). ?format=json: the events so far as one JSON array",
    params: Id,
    querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('sse'), Type.Literal('json')])) }),
    produces: 'text/event-stream',
    async handle(call) {
      const found = await call.api.tasks.get(call.params.id);
      if (found === undefined) throw new ApiError('not-found', `no task ${call.params.id}`, 'id');
      const lastEventId = Number(call.request.headers['last-event-id'] ?? 0);
      const after = Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : 0;
      if (call.query.format === 'json') {
        const events: unknown[] = [];
        call.api.tasks.follow(found.id, after, (event) => {
          if (event) events.push(JSON.parse(event.data));
        })();
        return { task: taskJson(found), events };
      }
      streamEvents(call, found.id, after);
      return REPLIED;
    },
  },
];

// Server-sent events: each task event as `id: N`, `data: LINE`; a comment every 15 s keeps proxies
// from closing an idle stream; `event: end` with the task once it has ended.
function streamEvents(call: RouteCall, id: string, after: number): void {
  const raw = call.reply.raw;
  call.reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(': sendense-run task events\n\n');
  const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  let done = false;
  let stop: () => void = () => {};
  const end = () => {
    if (done) return;
    done = true;
    clearInterval(keepAlive);
    stop();
  };
  stop = call.api.tasks.follow(id, after, (event) => {
    if (done) return;
    if (event) {
      raw.write(`id: ${event.seq}\ndata: ${event.data}\n\n`);
      return;
    }
    void call.api.tasks.get(id).then((task) => {
      raw.end(`event: end\ndata: ${JSON.stringify(task ? taskJson(task) : { id })}\n\n`);
      end();
    });
  });
  raw.on('close', end);
}
