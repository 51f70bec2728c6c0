// A problem found in one plan, addressed by its path in the plan data; the loader turns the
// path into FILE:LINE:COL. Checks collect issues instead of throwing so validate shows them all.

export type PlanPath = readonly (string | number)[];

export interface PlanIssue {
  readonly path: PlanPath;
  /** Point at the key of the last path segment (unknown/missing keys) or at its value. */
  readonly at: 'key' | 'value';
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export class PlanIssues {
  readonly list: PlanIssue[] = [];

  error(path: PlanPath, message: string, at: 'key' | 'value' = 'value'): void {
    this.list.push({ path, at, severity: 'error', message });
  }

  warning(path: PlanPath, message: string, at: 'key' | 'value' = 'value'): void {
    this.list.push({ path, at, severity: 'warning', message });
  }
}

// "vm.source.disks[1].key" — how paths appear in messages.
export function formatPlanPath(path: PlanPath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}

// "path: message", or the bare message for the plan as a whole.
export function atPath(path: PlanPath, message: string): string {
  return path.length === 0 ? message : `${formatPlanPath(path)}: ${message}`;
}

export function isWithin(path: PlanPath, prefix: PlanPath): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment);
}
