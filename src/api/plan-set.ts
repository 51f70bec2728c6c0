// The plans `sendense-run api FILE|DIR…` serves (docs/api.md#plans), found and validated as
// `schedule` finds them, read again when a file changed (at most once a few seconds) or on SIGHUP.

import { statSync } from 'node:fs';
import { formatDiagnostic, type PlanDiagnostic } from '../plan/plan-diagnostic.js';
import type { Plan } from '../plan/types.js';
import { loadSchedulePlans, type SchedulePlans } from '../schedule/load-schedule-plans.js';

export interface ServedPlan {
  readonly name: string;
  readonly file: string;
  readonly kind?: string;
  readonly schedule?: string;
  readonly timezone?: string;
  readonly valid: boolean;
  readonly findings: readonly string[];
  readonly plan?: Plan;
}

const FRESH_MS = 3000;

export class PlanSet {
  private loaded: SchedulePlans | undefined;
  private loadedAt = 0;
  private loading: Promise<SchedulePlans> | undefined;

  constructor(readonly paths: readonly string[]) {}

  async all(): Promise<readonly ServedPlan[]> {
    const loaded = await this.current();
    const valid = (plan: Plan): ServedPlan => ({
      name: plan.name,
      file: plan.origin.file,
      kind: plan.kind,
      ...(plan.schedule ? { schedule: plan.schedule } : {}),
      ...(plan.timezone ? { timezone: plan.timezone } : {}),
      valid: true,
      findings: [],
      plan,
    });
    const plans = [...loaded.scheduled.map((scheduled) => valid(scheduled.plan)), ...loaded.ignored.map(valid)];
    const invalid = loaded.invalid.map((file): ServedPlan => ({
      name: file.name ?? file.file,
      file: file.file,
      valid: false,
      findings: file.errors.map((error: PlanDiagnostic) => formatDiagnostic(error)),
    }));
    return [...plans, ...invalid].sort((a, b) => a.name.localeCompare(b.name));
  }

  async find(name: string): Promise<ServedPlan | undefined> {
    return (await this.all()).find((plan) => plan.name === name);
  }

  /** Problems with the paths themselves (none exists, none holds a plan). */
  async pathProblems(): Promise<readonly string[]> {
    return (await this.current()).pathErrors.map((error) => formatDiagnostic(error));
  }

  reload(): void {
    this.loadedAt = 0;
  }

  private async current(): Promise<SchedulePlans> {
    if (this.loaded && Date.now() - this.loadedAt < FRESH_MS && !this.changedSince(this.loadedAt)) return this.loaded;
    this.loading ??= loadSchedulePlans(this.paths).finally(() => (this.loading = undefined));
    const started = Date.now();
    this.loaded = await this.loading;
    this.loadedAt = started;
    return this.loaded;
  }

  private changedSince(at: number): boolean {
    for (const file of this.paths) {
      try {
        if (statSync(file).mtimeMs > at) return true;
      } catch {
        return true;
      }
    }
    return false;
  }
}
