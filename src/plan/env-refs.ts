// `${NAME}` references in plan string values (docs/plan-reference.md): found for validate, substituted
// for a run. `$${NAME}` stands for a literal `${NAME}`; other `$` forms are left for the shell.

import type { PlanPath } from './plan-issue.js';
import { isObject } from './raw-plan.js';

export interface EnvRef {
  readonly name: string;
  readonly path: PlanPath;
}

const REFERENCE = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function findEnvRefs(data: unknown): EnvRef[] {
  const refs: EnvRef[] = [];
  walkStrings(data, [], (text, path) => {
    for (const match of text.matchAll(REFERENCE)) if (match[1] === undefined) refs.push({ name: match[2], path });
    return text;
  });
  return refs;
}

// A copy of `data` with every reference replaced; references to unset variables stay as they are,
// and so do strings at paths `keep` accepts (hook commands: the shell expands them, see below).
export function substituteEnvRefs(
  data: unknown,
  env: NodeJS.ProcessEnv,
  keep: (path: PlanPath) => boolean = () => false,
): unknown {
  return walkStrings(data, [], (text, path) =>
    keep(path)
      ? text
      : text.replace(REFERENCE, (whole: string, escaped: string | undefined, name: string) => {
          if (escaped !== undefined) return whole.slice(1);
          return env[name] ?? whole;
        }),
  );
}

// A hook command keeps its `${NAME}` for `sh` to expand from the environment the hook is given,
// so a secret (a webhook token) never shows in `ps`, in the run's log or in its recorded error.
export function isHookCommand(path: PlanPath): boolean {
  return path.length === 4 && path[0] === 'hooks' && path[3] === 'run';
}

// The names a hook command references, and the command as `sh` gets it (`$${NAME}` -> `${NAME}`).
export function hookCommandRefs(text: string): { readonly names: readonly string[]; readonly command: string } {
  const names = [...text.matchAll(REFERENCE)].filter((match) => match[1] === undefined).map((match) => match[2]);
  return {
    names: [...new Set(names)],
    command: text.replace(REFERENCE, (whole: string, escaped: string | undefined) =>
      escaped === undefined ? whole : whole.slice(1),
    ),
  };
}

// True when a string still holds a reference, so checks of its final form must wait for a run.
export function hasEnvRef(text: string): boolean {
  return [...text.matchAll(REFERENCE)].some((match) => match[1] === undefined);
}

function walkStrings(value: unknown, path: PlanPath, visit: (text: string, path: PlanPath) => string): unknown {
  if (typeof value === 'string') return visit(value, path);
  if (Array.isArray(value)) return value.map((item, i) => walkStrings(item, [...path, i], visit));
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, walkStrings(item, [...path, key], visit)]),
    );
  }
  return value;
}
