// Turns plan data that passed every check into the typed Plan: the part every kind has here
// (./build-parts.ts), the kind's own blocks by its builder (src/kinds), all frozen. Only called on
// valid data, so it trusts the shapes.

import { kindNamed } from '../kinds/index.js';
import { buildCommon } from './build-parts.js';
import { deepFreeze } from './deep-freeze.js';
import type { RawPlan } from './plan-shape.generated.js';
import type { Plan } from './types.js';

// env: where a run's `${NAME}` values come from (hook commands get theirs in their environment).
export function buildPlan(data: unknown, file: string, envRefs: readonly string[], env: NodeJS.ProcessEnv = {}): Plan {
  const raw = data as RawPlan;
  const kind = kindNamed(raw.kind);
  // The schema allows only the registered kinds' names.
  if (kind === undefined) throw new Error(`plan kind '${raw.kind}' has no definition in src/kinds/index.ts`);
  return deepFreeze(kind.build(data, buildCommon(raw, file, envRefs, env)));
}
