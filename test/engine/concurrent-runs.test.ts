// Runs at the same time: two plans on different VMs share one state database and one small port
// range; they never get the same port and both back up exactly.

import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  listBackups,
  parseEvents,
  sendenseRun,
  startSendenseRun,
  writePlan,
  type CliResult,
} from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const [first] = portRangeForTestFile();
const ws = useRunWorkspace('engine-concurrent-');

// The ports a run leased, from its allocate-ports summary ("ports 2000:20001, 2001:20002").
function leasedBy(result: CliResult): number[] {
  const summary = parseEvents(result.stdout).find(
    (event) => event.type === 'step-done' && event.step === 'allocate-ports',
  )?.summary;
  expect(summary, result.stdout + result.stderr).toBeDefined();
  return [...summary!.matchAll(/\d+:(\d+)/g)].map((match) => Number(match[1]));
}

function makeVm(name: string, fill: number) {
  const disks = [2000, 2001].map((key, index) => {
    const file = createDisk(path.join(ws.dir, `${name}-${key}.qcow2`), 128 * MiB);
    writeDisk(file, [`write -P ${fill + index} 0 24M`, `write -P ${fill + index + 2} ${128 * MiB - 512} 512`]);
    return { key, path: file };
  });
  // Exactly enough ports for both VMs at once.
  const plan = writePlan(ws.dir, {
    name: `${name}-nightly`,
    vm: name,
    disks,
    repository: ws.repository,
    ports: [first, first + 3],
  });
  return { name, disks, plan };
}

describe('concurrent runs', () => {
  it('two plans on different VMs at once: distinct ports from one small range, both exact', async () => {
    const vms = [makeVm('vma', 0x10), makeVm('vmb', 0x20)];
    for (let point = 1; point <= 2; point++) {
      if (point === 2) {
        writeDisk(vms[0].disks[0].path, ['write -P 0x31 4M 2M', 'write -z 10M 1M']);
        writeDisk(vms[1].disks[1].path, ['write -P 0x32 100M 3M', 'discard 0 1M']);
      }
      // Started at the same moment: both race for the same four ports.
      const results = await Promise.all(vms.map((vm) => sendenseRun([vm.plan, '--db', ws.db, '--json'])));
      for (const result of results) expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      const [a, b] = results.map(leasedBy);
      expect(a).toHaveLength(2);
      expect(b).toHaveLength(2);
      expect(new Set([...a, ...b]).size, `ports ${a} and ${b}`).toBe(4);

      for (const vm of vms) {
        const latest = (await listBackups(ws.db, vm.name)).at(-1)!;
        expect(latest.type).toBe(point === 1 ? 'full' : 'incremental');
        for (const disk of vm.disks) {
          const copy = keepCopy(disk.path, `${disk.path}.p${point}`);
          const file = latest.disks.find((d) => d.diskKey === disk.key)!.file;
          expect(differenceBetween(file, copy), `${vm.name} disk ${disk.key} point ${point}`).toBe('');
        }
      }
    }
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });

  it('the range runs out because another program holds a port: one clear error, nothing created', async () => {
    const vm = makeVm('vmc', 0x40);
    const plan = writePlan(ws.dir, {
      name: 'tight',
      vm: 'vmc',
      disks: vm.disks,
      repository: ws.repository,
      ports: [first, first + 1],
    });
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(first, '127.0.0.1', resolve));
    try {
      const result = await sendenseRun([plan, '--db', ws.db]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(`no free NBD port in ${first}-${first + 1}: need 2.* 1 in use by other programs`),
      );
      expect(existsSync(path.join(ws.repository, 'vmc'))).toBe(false);
      expect(leasedPorts(ws.db)).toEqual([]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('a second backup of a VM while one runs is refused at once with busy: fail, naming the running one; the first stays exact', async () => {
    const disk = createDisk(path.join(ws.dir, 'busy-2000.qcow2'), 2048 * MiB);
    writeDisk(disk, ['write -P 0x51 0 1200M']);
    const disks = [{ key: 2000, path: disk }];
    const nightly = writePlan(ws.dir, {
      name: 'busy-nightly',
      vm: 'busy',
      disks,
      repository: ws.repository,
      ports: [first, first + 3],
    });
    const weekly = writePlan(ws.dir, {
      name: 'busy-weekly',
      kind: 'backup',
      vm: 'busy',
      disks,
      repository: ws.repository,
      ports: [first, first + 3],
      busy: 'fail',
    });
    const running = startSendenseRun([nightly, '--db', ws.db]);
    await running.waitForEvent((event) => event.type === 'step-start' && event.step === 'transfer');
    const refused = await sendenseRun([weekly, '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/VM busy is being backed up by run run-\S+ of plan busy-nightly \(pid \d+/);
    const first_ = await running.exited;
    expect(first_.exitCode, first_.stderr).toBe(0);
    const backups = await listBackups(ws.db, 'busy');
    expect(backups.map((b) => [b.plan, b.status])).toEqual([['busy-nightly', 'complete']]);
    expect(differenceBetween(backups[0].disks[0].file, disk)).toBe('');
    expect(bitmapNames(disk)).toHaveLength(1);
  });
});
