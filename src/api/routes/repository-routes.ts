// The repositories the hub serves or holds points in (docs/api.md#repositories), each with its number:
// the old system's repository_id (`"1"` for the first), kept across restarts by the store.

import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../api-error.js';
import type { ServedPlan } from '../plan-set.js';
import type { RouteCall, RouteDef } from '../route.js';

export interface RepositoryJson {
  readonly id: string;
  readonly number: number;
  readonly path: string;
  readonly name: string;
  readonly plans: readonly string[];
  readonly points: number;
}

export function planRepository(plan: ServedPlan): string | undefined {
  return (plan.plan as { repository?: { path?: string } } | undefined)?.repository?.path;
}

// Every repository a valid served plan writes into or a recorded point lies in, numbered first
// by plan name, then by the order points were recorded.
export async function numberedRepositories(call: RouteCall): Promise<RepositoryJson[]> {
  const plans = (await call.api.plans.all()).filter((plan) => plan.valid);
  const points = await call.api.store.listBackups();
  const served = plans.map(planRepository).filter((at): at is string => at !== undefined);
  await call.api.store.repositories.note([...new Set([...served, ...points.map((point) => point.repository)])]);
  return (await call.api.store.repositories.list()).map((repository) => ({
    id: String(repository.number),
    number: repository.number,
    path: repository.path,
    name: path.basename(repository.path),
    plans: plans.filter((plan) => planRepository(plan) === repository.path).map((plan) => plan.name),
    points: points.filter((point) => point.repository === repository.path).length,
  }));
}

/** The repository a repository_id names: its number, its path, or its folder name (one only). */
export async function repositoryById(call: RouteCall, id: string): Promise<RepositoryJson> {
  const repositories = await numberedRepositories(call);
  const byNumber = /^[0-9]+$/.test(id) ? repositories.filter((repository) => repository.id === id) : [];
  const found =
    byNumber.length > 0
      ? byNumber
      : repositories.filter((repository) => repository.path === id || repository.name === id);
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw new ApiError(
      'bad-request',
      `repository_id ${id} names ${found.length} repositories (${found.map((repository) => repository.path).join(', ')}): give its number or path`,
      'repository_id',
    );
  throw new ApiError(
    'not-found',
    `no repository ${id} (see GET /api/v1/repositories: its number, path or folder name)`,
    'repository_id',
  );
}

const Repository = Type.Object({
  id: Type.String({ description: "its number as a string: the old system's repository_id" }),
  number: Type.Integer(),
  path: Type.String(),
  name: Type.String({ description: 'its folder name' }),
  plans: Type.Array(Type.String(), { description: 'the served plans that write into it' }),
  points: Type.Integer({ description: 'the points recorded in it' }),
});

export const repositoryRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/repositories',
    role: 'audit',
    tag: 'backups',
    summary:
      'The repositories the served plans write into or points lie in, each with its number (the old system\'s repository_id: "1" for the first, kept across restarts)',
    response: Type.Object({ repositories: Type.Array(Repository) }),
    async handle(call) {
      return { repositories: await numberedRepositories(call) };
    },
  },
];
