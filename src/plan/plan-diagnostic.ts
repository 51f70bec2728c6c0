// A plan problem with its place in a file, as printed by validate and thrown by a run.

import { planError, type SendenseError } from '../errors.js';

export interface PlanDiagnostic {
  readonly file: string;
  /** 1-based; absent when the problem is the file itself (missing, unreadable). */
  readonly line?: number;
  readonly column?: number;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

// "file:line:col: message" / "file:line:col: warning: message".
export function formatDiagnostic(diagnostic: PlanDiagnostic): string {
  const where = [diagnostic.file, diagnostic.line, diagnostic.column].filter((part) => part !== undefined).join(':');
  return `${where}: ${diagnostic.severity === 'warning' ? 'warning: ' : ''}${diagnostic.message}`;
}

export function diagnosticError(diagnostic: PlanDiagnostic): SendenseError {
  return planError(diagnostic.message, diagnostic.file, diagnostic.line, diagnostic.column);
}

export function byPosition(a: PlanDiagnostic, b: PlanDiagnostic): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}
