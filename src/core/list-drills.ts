// A VM's drills as the API lists them (docs/drills.md#what-a-drill-records, docs/api.md#drills):
// what each proved, newest first. The console's last lines stay out: they are the guest's words,
// and an auditor never sees guest data; the screenshot is its own route, for the restore role.

import { Type, type Static } from '@sinclair/typebox';
import type { DrillRecord } from '../store/records.js';
import type { Store } from '../store/index.js';

export const ListedDrillCheck = Type.Object(
  {
    check: Type.String({ description: 'boot, heartbeat, screenshot, command, files or fsck' }),
    status: Type.Union([Type.Literal('passed'), Type.Literal('failed'), Type.Literal('skipped')]),
    seconds: Type.Number(),
    detail: Type.String({ description: 'what it found, or why it failed or was skipped' }),
  },
  { additionalProperties: false },
);

export const ListedDrill = Type.Object(
  {
    runId: Type.String(),
    plan: Type.String(),
    vm: Type.String(),
    repository: Type.String(),
    backupId: Type.String({ description: 'the point drilled' }),
    startedAt: Type.String(),
    endedAt: Type.String(),
    outcome: Type.Union([Type.Literal('passed'), Type.Literal('failed')]),
    bootSeconds: Type.Union([Type.Number(), Type.Null()]),
    recoverySeconds: Type.Union([Type.Number(), Type.Null()], {
      description: "the measured recovery time: the domain's start to its heartbeat",
    }),
    checks: Type.Array(ListedDrillCheck),
    screenshot: Type.Boolean({ description: 'a screenshot was kept (GET /api/v1/drills/{run}/screenshot)' }),
  },
  { additionalProperties: false },
);
export type ListedDrill = Static<typeof ListedDrill>;

export function listedDrill(drill: DrillRecord): ListedDrill {
  return {
    runId: drill.runId,
    plan: drill.plan,
    vm: drill.vm,
    repository: drill.repository,
    backupId: drill.backupId,
    startedAt: drill.startedAt,
    endedAt: drill.endedAt,
    outcome: drill.outcome,
    bootSeconds: drill.bootSeconds,
    recoverySeconds: drill.heartbeatSeconds,
    checks: drill.checks.map((check) => ({ ...check })),
    screenshot: drill.screenshotPng !== null,
  };
}

export async function listDrillsOfVm(store: Store, vm: string, limit: number): Promise<ListedDrill[]> {
  return (await store.listDrills({ vm }, limit)).map(listedDrill);
}
