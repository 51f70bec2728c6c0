// Runs one hook command with `sh -c`: on the hub (execa) or on the node (NodeHost.exec), its
// output going to the run's reporter as info lines.

import { execa } from 'execa';
import type { NodeHost } from '../node/node.js';
import type { Hook } from '../plan/types.js';
import { OWNER_VARIABLE } from '../process/owner-tag.js';
import { childCwd } from '../process/child-cwd.js';
import { childEnv } from '../process/child-env.js';

export type HookPhase = 'before' | 'after' | 'onFailure' | 'always';

export interface HookOutcome {
  readonly exitCode: number;
  /** The last lines of stderr (or stdout), for the error message. */
  readonly tail: string;
}

/** The part of a run's reporter hooks use: a hook's lines are info, its failures warnings. */
export interface HookLog {
  emit(event: { readonly type: 'info' | 'warning'; readonly step: 'hooks'; readonly message: string }): void;
}

export interface HookTarget {
  /** Undefined when the node could not be reached: node hooks cannot run. */
  readonly node: NodeHost | undefined;
  /** Where hook output and failures go (a run's reporter). */
  readonly reporter: HookLog;
  readonly env: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export async function runHook(phase: HookPhase, hook: Hook, target: HookTarget): Promise<HookOutcome> {
  const { reporter, signal } = target;
  // The plan's `${NAME}` values first: the run's own SENDENSE_* facts cannot be overridden.
  // Not tagged as ours: what a hook starts (a VM, a service) is never stopped by doctor.
  const env = { ...hook.env, ...target.env, [OWNER_VARIABLE]: '' };
  const where = hook.on === 'node' ? 'node' : 'hub';
  reporter.emit({ type: 'info', step: 'hooks', message: `hook ${phase} (${where}): ${hook.run}` });
  let result: { exitCode: number; stdout: string; stderr: string };
  if (hook.on === 'node') {
    if (target.node === undefined) throw new Error('the node could not be reached');
    result = await target.node.exec(['sh', '-c', hook.run], { env, signal });
  } else {
    result = await runOnHub(hook.run, env, signal);
  }
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) {
    if (line.trim() !== '') reporter.emit({ type: 'info', step: 'hooks', message: `  ${phase}| ${line}` });
  }
  const lines = (result.stderr.trim() || result.stdout.trim()).split('\n');
  return { exitCode: result.exitCode, tail: lines.slice(-3).join(' / ') };
}

// In its own process group, so a cancel stops the whole command (`sh -c 'sleep 60'` would
// otherwise leave sleep holding the output pipes until it ends).
async function runOnHub(command: string, env: Readonly<Record<string, string>>, signal: AbortSignal | undefined) {
  signal?.throwIfAborted();
  const child = execa('sh', ['-c', command], {
    env: childEnv(env),
    extendEnv: false,
    cwd: childCwd(),
    reject: false,
    stdin: 'ignore',
    detached: true,
  });
  const stopGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  signal?.addEventListener('abort', stopGroup, { once: true });
  try {
    const done = await child;
    if (signal?.aborted) throw signal.reason;
    return { exitCode: done.exitCode ?? 128, stdout: String(done.stdout ?? ''), stderr: String(done.stderr ?? '') };
  } finally {
    signal?.removeEventListener('abort', stopGroup);
  }
}
