// The console's types of the API's answers (console/src/api-types.ts) against the core's schemas
// the API answers from (src/core/*.ts, typebox): every field the console reads is one the core
// declares, of a type the core's can be given as. Checked by the type checker (`npm run
// typecheck` reads this file): a field renamed or dropped in the core, or read by the console
// without being declared, fails the build, not a user's screen.

import { expect, it } from 'vitest';
import type * as Console from '../../console/src/api-types.js';
import type { ListedPoint } from '../../src/core/list-points.js';
import type { ListedReplica } from '../../src/core/list-replicas.js';
import type { PlanStatus } from '../../src/core/plan-status.js';
import type { Acknowledgement } from '../../src/core/acknowledge-run.js';
import type { Cleared } from '../../src/core/clear-suspect-point.js';
import type { ListedDrill } from '../../src/core/list-drills.js';
import type { HistoryRun } from '../../src/core/run-history.js';
import type { Trends } from '../../src/core/trends.js';
import type { ApplianceStarting } from '../../src/api/files-port.js';

// True when every key the console declares is one the core declares too.
type KeysKnown<Seen, Declared> = Exclude<keyof Seen, keyof Declared> extends never ? true : false;
// True when what the core answers can be read as what the console expects.
type Readable<Declared, Seen> = Declared extends Seen ? true : false;
type Holds<T extends true> = T;

type Checks = [
  Holds<KeysKnown<Console.Point, ListedPoint>>,
  Holds<Readable<ListedPoint, Console.Point>>,
  Holds<KeysKnown<Console.PointDisk, ListedPoint['disks'][number]>>,
  Holds<Readable<ListedPoint['disks'][number], Console.PointDisk>>,
  Holds<KeysKnown<Console.PlanStatus, PlanStatus>>,
  Holds<Readable<PlanStatus, Console.PlanStatus>>,
  Holds<KeysKnown<Console.Replica, ListedReplica>>,
  Holds<Readable<ListedReplica, Console.Replica>>,
  Holds<KeysKnown<Console.Run, HistoryRun>>,
  Holds<Readable<HistoryRun, Console.Run>>,
  Holds<KeysKnown<Console.Trends, Trends>>,
  Holds<Readable<Trends, Console.Trends>>,
  Holds<KeysKnown<Console.Trends['plans'][number]['runs'][number], Trends['plans'][number]['runs'][number]>>,
  Holds<KeysKnown<Console.Acknowledgement, Acknowledgement>>,
  Holds<Readable<Acknowledgement, Console.Acknowledgement>>,
  Holds<KeysKnown<Console.Cleared, Cleared>>,
  Holds<Readable<Cleared, Console.Cleared>>,
  Holds<KeysKnown<Console.Drill, ListedDrill>>,
  Holds<Readable<ListedDrill, Console.Drill>>,
  Holds<KeysKnown<Console.DrillCheck, ListedDrill['checks'][number]>>,
  Holds<Readable<ListedDrill['checks'][number], Console.DrillCheck>>,
  Holds<KeysKnown<Console.ApplianceStarting, ApplianceStarting>>,
  Holds<Readable<ApplianceStarting, Console.ApplianceStarting>>,
];

it('the console reads only what the core declares (checked by the type checker)', () => {
  const checked: Checks['length'] = 23;
  expect(checked).toBe(23);
});
