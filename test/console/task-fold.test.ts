// The console's task view and the terminal fold a run's events with one fold
// (src/engine/run-fold.ts): a real run's `--json` events, folded by the console, give the step
// lines the terminal prints (test/cli/terminal.test.ts reads the same lines off a real terminal),
// and a replay in two halves (a reload mid-run) ends where one pass does.

import path from 'node:path';
import { expect, it } from 'vitest';
import { EMPTY, foldEvent, type TaskView } from '../../console/src/task-events.js';
import { EMPTY_RUN, foldRunEvent, isFoldEvent, type RunFold } from '../../src/engine/run-fold.js';
import { parseEvents, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-task-fold-');
const ports = portRangeForTestFile(4);

it("a run's --json events fold in the console into the terminal's step lines", async () => {
  const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 32 * 1024 ** 2);
  writeDisk(disk, ['write -P 0x11 0 4M']);
  const plan = writePlan(ws.dir, {
    name: 'fold',
    vm: 'fold-vm',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports: [ports[0], ports[1]],
  });
  const run = await sendenseRun(['--db', ws.db, '--json', plan]);
  expect(run.exitCode, run.stderr).toBe(0);
  const events = parseEvents(run.stdout) as unknown as Record<string, unknown>[];
  const seen = events.reduce<TaskView>((view, event) => foldEvent(view, event), EMPTY);
  const lines = seen.steps.map((step) => `${step.state} ${step.text}`);
  expect(lines).toContainEqual(expect.stringMatching(/^done resolve-chain: backup \S+: full, new chain/));
  expect(lines).toContainEqual(expect.stringMatching(/^done transfer: 1 disk, 4\.0 MiB/));
  expect(lines).toContainEqual(expect.stringMatching(/^done cleanup: \d+ of \d+ resources given back/));
  expect(seen.end?.status).toBe('succeeded');

  // The terminal's fold of the same events: the same steps, the same lines.
  const terminal = events
    .filter(isFoldEvent)
    .reduce<RunFold>(
      (fold, event) => foldRunEvent(fold, event, Date.parse(String((event as { time?: string }).time))),
      EMPTY_RUN,
    );
  expect(seen.steps.map((step) => [step.name, step.state, step.text])).toEqual(
    terminal.steps.map((step) => [step.name, step.state, step.title]),
  );

  // A reload half-way: the second half folded onto the first ends the same.
  const half = Math.floor(events.length / 2);
  const first = events.slice(0, half).reduce<TaskView>((view, event) => foldEvent(view, event), EMPTY);
  const resumed = events.slice(half).reduce<TaskView>((view, event) => foldEvent(view, event), first);
  expect(resumed.steps).toEqual(seen.steps);
  expect(resumed.log).toEqual(seen.log);
});
