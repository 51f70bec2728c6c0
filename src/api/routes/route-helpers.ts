// What several routes share (docs/api.md): a served plan by name, a point by id, starting a task
// (202, or the ended task with ?wait=true), and the VM lock check that answers 409.

import { hostname } from 'node:os';
import { isProcessAlive } from '../../process/process-identity.js';
import type { Backup } from '../../store/index.js';
import type { ApiTask } from '../../store/api-records.js';
import { ApiError } from '../api-error.js';
import type { ServedPlan } from '../plan-set.js';
import type { RouteCall } from '../route.js';
import { REPLIED } from '../route.js';
import type { TaskOptionValue, TaskRequest as TaskCommand } from '../../task/task-request.js';

export async function servedPlan(
  call: RouteCall,
  name: string,
  options: { readonly valid?: boolean } = {},
): Promise<ServedPlan> {
  const plan = await call.api.plans.find(name);
  if (plan === undefined)
    throw new ApiError('not-found', `no plan named ${name} is served here (see GET /api/v1/plans)`, 'name');
  call.target(`plan ${plan.name}`);
  if (options.valid !== false && !plan.valid)
    throw new ApiError('invalid-plan', `plan ${plan.name} (${plan.file}) is invalid: ${plan.findings.join('; ')}`);
  return plan;
}

export async function pointById(call: RouteCall, id: string): Promise<Backup> {
  const backup = await call.api.store.getBackup(id);
  if (backup === undefined) throw new ApiError('not-found', `no backup point ${id}`, 'id');
  call.target(`point ${backup.id} of VM ${backup.vm}`);
  return backup;
}

/** 409 when a live run holds the VM's lock (docs/api.md#errors): its run named. */
export async function refuseBusyVm(call: RouteCall, vm: string | undefined): Promise<void> {
  if (vm === undefined) return;
  const lock = (await call.api.store.listVmLocks()).find((held) => held.vm === vm);
  if (lock === undefined) return;
  const run = await call.api.store.getRun(lock.runId);
  if (run?.status !== 'running') return;
  if (lock.hostname === hostname() && !isProcessAlive(lock.pid)) return;
  throw new ApiError(
    'conflict',
    `VM ${vm} is busy: run ${lock.runId} of plan ${lock.plan} holds it (pid ${lock.pid} on ${lock.hostname}, since ${lock.since}); try again when it ends`,
  );
}

// The end of the store's busy-VM refusal (src/store/vm-locks.ts), as a task's error carries it.
const BUSY = /two runs on one VM at once would disturb each other/;

export function wantsWait(call: RouteCall): boolean {
  const wait = call.query.wait;
  return wait === true || wait === 'true' || wait === '1';
}

/** A task's typed request: options left undefined are not given (docs/api.md#tasks). */
export function taskRequest(
  command: string,
  operands: readonly string[],
  options: Readonly<Record<string, TaskOptionValue | undefined>>,
): TaskCommand {
  const given = Object.entries(options).filter((entry): entry is [string, TaskOptionValue] => entry[1] !== undefined);
  return { command, operands, options: Object.fromEntries(given) };
}

export interface TaskStartRequest {
  readonly operation: string;
  readonly title: string;
  readonly request: TaskCommand;
  readonly env?: Readonly<Record<string, string>>;
}

// 202 and the task (Location: its URL); with ?wait=true, 200 and the task once it has ended, or
// the refusal it ended with (a busy VM: 409).
export async function startTask(call: RouteCall, request: TaskStartRequest): Promise<unknown> {
  const task = await call.api.tasks.start({ ...request, token: call.caller.token }, request.env);
  call.startedTask(task.id);
  call.reply.header('location', `/api/v1/tasks/${task.id}`);
  if (!wantsWait(call)) {
    call.reply.code(202);
    return taskJson(task);
  }
  const ended = (await call.api.tasks.waitFor(task.id)) ?? task;
  // A run refused for a busy VM ends `refused` (docs/how-it-works.md#busy-vms); older records say failed.
  if ((ended.status === 'refused' || ended.status === 'failed') && ended.error !== null && BUSY.test(ended.error)) {
    throw new ApiError('conflict', ended.error);
  }
  return taskJson(ended);
}

export function taskJson(task: ApiTask): Record<string, unknown> {
  const { pidStartTicks: _identity, ...shown } = task; // how the server tells its process: not the client's
  return { ...shown, events: `/api/v1/tasks/${task.id}/events` };
}

export { REPLIED };
