// Every plan kind, by the name a plan's `kind` (and a restore's target) gives it: loaded when a run
// needs it, so a CLI start-up pays for no kind it does not run. A new kind is a folder and a line here.

import type { RunContext } from '../engine/run-context.js';
import { isFilesRestore, type Plan } from '../plan/types.js';
import type { KindModule } from './kind.js';

const KINDS = {
  backup: () => import('./backup/index.js').then((module) => module.backupKind),
  restore: () => import('./restore/index.js').then((module) => module.restoreKind),
  'restore-files': () => import('./restore-files/index.js').then((module) => module.filesRestoreKind),
  verify: () => import('./verify/index.js').then((module) => module.verifyKind),
  recover: () => import('./recover/index.js').then((module) => module.recoverKind),
  replicate: () => import('./replicate/index.js').then((module) => module.replicateKind),
  copy: () => import('./copy/index.js').then((module) => module.copyKind),
} as const;

export type KindName = keyof typeof KINDS;

// backup and incremental plans are one kind (incremental decides per run); a files target is a restore of its own.
export function kindName(plan: Plan): KindName {
  if (plan.kind === 'backup' || plan.kind === 'incremental') return 'backup';
  if (plan.kind === 'restore') return isFilesRestore(plan) ? 'restore-files' : 'restore';
  return plan.kind;
}

export async function loadKind(plan: Plan): Promise<KindModule<RunContext>> {
  return (await KINDS[kindName(plan)]()) as unknown as KindModule<RunContext>;
}

/** Every kind (the docs name each kind's steps). */
export async function allKinds(): Promise<readonly KindModule<RunContext>[]> {
  return Promise.all(Object.values(KINDS).map((load) => load() as Promise<unknown> as Promise<KindModule<RunContext>>));
}
