// --json for tools: run-end says which backup, the kind taken and the bytes per disk and in
// total; steps give their facts as fields; every event type a run prints is documented.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-json-events-');
const MiB = 1024 * 1024;

interface EndEvent {
  readonly type: 'run-end';
  readonly backupId: string;
  readonly taken: string;
  readonly bytes: number;
  readonly disks: readonly { key: number; bytes: number; changeId: string | null }[];
}

describe('--json events', () => {
  it('run-end carries the backup, the kind taken and bytes per disk and in total; step-done its facts', async () => {
    const disks = [0, 1].map((i) => createDisk(path.join(ws.dir, `disk${i}.qcow2`), 16 * MiB));
    writeDisk(disks[0], ['write -P 0x51 0 2M']);
    writeDisk(disks[1], ['write -P 0x52 0 1M']);
    const plan = writePlan(ws.dir, {
      name: 'json-events',
      vm: 'json-vm',
      disks: disks.map((file, i) => ({ key: 2000 + i, path: file })),
      repository: ws.repository,
      ports: portRangeForTestFile(),
    });

    const first = parseEvents((await sendenseRun([plan, '--db', ws.db, '--json'])).stdout);
    const end = first.at(-1) as unknown as EndEvent;
    expect(end).toMatchObject({ type: 'run-end', status: 'succeeded', taken: 'full', bytes: 3 * MiB });
    expect(end.disks.map((disk) => [disk.key, disk.bytes])).toEqual([
      [2000, 2 * MiB],
      [2001, 1 * MiB],
    ]);
    for (const disk of end.disks) expect(disk.changeId).toMatch(new RegExp(`^sendense-.*${end.backupId}$`));
    const facts = (step: string) =>
      (first.find((event) => event.type === 'step-done' && event.step === step) as { facts?: Record<string, unknown> })
        .facts;
    expect(facts('resolve-chain')).toEqual({
      backupId: end.backupId,
      taken: 'full',
      chainId: end.backupId,
      parentId: null,
    });
    expect(facts('transfer')).toEqual({ disks: end.disks.map(({ key, bytes }) => ({ key, bytes })), bytes: 3 * MiB });
    expect(facts('cleanup')).toMatchObject({ notGivenBack: 0 });

    writeDisk(disks[1], ['write -P 0x53 4M 1M']);
    const second = parseEvents((await sendenseRun([plan, '--db', ws.db, '--json'])).stdout).at(
      -1,
    ) as unknown as EndEvent;
    // Each incremental also re-copies a disk's last 64 KiB, the block its bitmap's shrink mark is on
    // (docs/how-it-works.md#change-tracking-by-source).
    const mark = 64 * 1024;
    expect(second).toMatchObject({ taken: 'incremental', bytes: 1 * MiB + 2 * mark });
    expect(second.disks.map((disk) => [disk.key, disk.bytes])).toEqual([
      [2000, mark],
      [2001, 1 * MiB + mark],
    ]);
  });

  it('every event type a run prints is documented in docs/json-events.md', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * MiB);
    writeDisk(disk, ['write -P 0x61 0 1M']);
    const ok = writePlan(ws.dir, {
      name: 'documented',
      vm: 'doc-vm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports: portRangeForTestFile(),
    });
    const broken = writePlan(ws.dir, {
      name: 'documented-missing',
      vm: 'doc-vm2',
      disks: [{ key: 2000, path: path.join(ws.dir, 'gone.qcow2') }],
      repository: ws.repository,
      ports: portRangeForTestFile(),
    });
    const seen = new Set<string>();
    for (const args of [[ok], [broken], [path.join(ws.dir, 'no-plan.yaml')]]) {
      for (const event of parseEvents((await sendenseRun([...args, '--db', ws.db, '--json'])).stdout))
        seen.add(event.type);
    }
    expect([...seen].sort()).toEqual([
      'error',
      'info',
      'progress',
      'run-end',
      'run-start',
      'slots',
      'step-done',
      'step-fail',
      'step-skip',
      'step-start',
    ]);
    const doc = readFileSync('docs/json-events.md', 'utf8');
    for (const type of [...seen, 'warning', 'queued']) expect(doc, type).toContain(`| \`${type}\` |`);
  });
});
