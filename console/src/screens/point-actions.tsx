// What a VM's page does to its points and plans (docs/console.md#screens): protect/unprotect,
// verify and serve (tasks), clear a suspect point and forget (both asked first), a restore or
// recover plan run, a failover test and a failback (asked first); each outcome a notice or the
// API's refusal and the page read again, each task followed on its page (live progress).

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Cleared, PlanJson, Point, Task } from '../api-types.js';
import { useConfirm } from '../parts/confirm.js';
import { navigate } from '../router.js';

export interface PointActions {
  readonly error: string | undefined;
  readonly notice: string | undefined;
  readonly dialog: preact.JSX.Element;
  protect(point: Point): Promise<void>;
  forget(point: Point): Promise<void>;
  clear(point: Point): Promise<void>;
  verify(point: Point): Promise<void>;
  serve(point: Point): Promise<void>;
  runPlan(plan: PlanJson): Promise<void>;
  failoverTest(plan: PlanJson): Promise<void>;
  failback(plan: PlanJson): Promise<void>;
}

// What running a plan of each kind does, asked before it starts.
const RUN_QUESTION: Readonly<Record<string, { readonly text: string; readonly confirm: string }>> = {
  restore: { text: "It writes the restored disks over the plan's target.", confirm: 'Restore' },
  recover: { text: 'It starts a libvirt domain from the served point (instant recovery).', confirm: 'Recover' },
};

export function usePointActions(reload: () => void): PointActions {
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { dialog, ask } = useConfirm();
  const act = async (what: () => Promise<string | undefined>) => {
    setError(undefined);
    setNotice(undefined);
    try {
      const done = await what();
      if (done) setNotice(done);
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
    reload();
  };
  // A task followed on its page (live progress).
  const follow = (task: Task, plan?: string) =>
    navigate(`/tasks/${encodeURIComponent(task.id)}${plan ? `?plan=${encodeURIComponent(plan)}` : ''}`);
  return {
    error,
    notice,
    dialog,
    protect: (point) =>
      act(async () => {
        await call(point.protected ? 'unprotect' : 'protect', { params: { id: point.id } });
        return `point ${point.id} is ${point.protected ? 'no longer protected' : 'protected'}`;
      }),
    async forget(point) {
      const question = {
        title: `Forget point ${point.id}?`,
        text: `Its data is merged into the next point of the chain, or removed with its files when nothing builds on it. This cannot be undone.`,
        confirm: 'Forget',
      };
      if (!(await ask(question))) return;
      await act(async () => {
        const task = await call<Task>('forget', { params: { id: point.id }, query: { wait: 'true' } });
        if (task.status !== 'succeeded')
          throw new ApiRefusal(409, task.status, task.error ?? `forget ended ${task.status}`);
        return `point ${point.id} forgotten`;
      });
    },
    async clear(point) {
      const question = {
        title: `Clear suspect point ${point.id}?`,
        text: `Say you have checked it (${point.suspect ?? ''}). Its record keeps the reasons and names you; the clean points it kept go back to retention, prune and forget.`,
        confirm: 'Clear',
      };
      if (!(await ask(question))) return;
      await act(async () => {
        const cleared = await call<Cleared>('clear', { params: { id: point.id } });
        return `point ${cleared.backupId} cleared by ${cleared.by}${cleared.released.length > 0 ? `; released ${cleared.released.join(', ')}` : ''}`;
      });
    },
    verify: (point) => act(async () => void follow(await call<Task>('verify', { body: { backup: point.id } }))),
    serve: (point) => act(async () => void follow(await call<Task>('serve', { params: { id: point.id } }))),
    async runPlan(plan) {
      const question = RUN_QUESTION[plan.kind ?? ''] ?? { text: 'It runs now.', confirm: 'Run' };
      if (!(await ask({ title: `Run ${plan.kind ?? ''} plan ${plan.name}?`, ...question }))) return;
      await act(async () => void follow(await call<Task>('run', { params: { name: plan.name } }), plan.name));
    },
    failoverTest: (plan) =>
      act(async () => void follow(await call<Task>('failoverTest', { params: { name: plan.name } }), plan.name)),
    async failback(plan) {
      const question = {
        title: `Fail back plan ${plan.name}?`,
        text: 'The replica domain running since the failover is switched back to the original domain.',
        confirm: 'Fail back',
      };
      if (!(await ask(question))) return;
      await act(async () => void follow(await call<Task>('failback', { params: { name: plan.name } }), plan.name));
    },
  };
}
