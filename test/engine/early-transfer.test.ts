// A backup on this host starts its node transfer while the steps before the copy run (node's
// start-up is then off the run's path): a run that fails before its copy leaves no transfer
// behind, and a transfer started ahead that dies before its job is replaced, the backup exact.

import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandLine, descendantPids, processesTaggedBy } from '../support/process-tree.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, startSendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('early-transfer-');
const started = new NotedProcesses();
const servers: net.Server[] = [];

afterEach(async () => {
  started.killAll();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

const waitingTransfers = (cli: number) =>
  descendantPids(cli).filter((pid) => commandLine(pid).includes('--args-on-stdin'));

describe('the node transfer started ahead of the copy', () => {
  it('a run that fails before its copy (no free NBD port) leaves no node transfer behind', async () => {
    const disk = createDisk(path.join(ws.dir, 'd0.qcow2'), 16 * MiB);
    writeDisk(disk, ['write -P 0x11 0 1M']);
    // The plan's only port is taken by another program.
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve));
    const plan = writePlan(ws.dir, {
      name: 'busy-port',
      vm: 'busy-port',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports: [ports[0], ports[0]],
    });
    const cli = startSendenseRun([plan, '--db', ws.db]);
    started.add(cli.pid);
    await cli.waitForEvent((event) => event.type === 'step-start' && event.step === 'resolve-chain');
    const waiting = waitingTransfers(cli.pid);
    expect(waiting, 'a node transfer waits for its job while the steps before the copy run').toHaveLength(1);
    const end = await cli.exited;
    expect(end.exitCode, end.stderr).toBe(1);
    const events = parseEvents(end.stdout);
    expect(events.find((event) => event.type === 'run-end')?.error).toMatch(/no free NBD port/);
    // Given back by the run's cleanup, as any process it took.
    expect(
      events.some(
        (event) =>
          event.type === 'info' &&
          event.step === 'cleanup' &&
          /^stop the node transfer started ahead of its job \(pid \d+\)$/.test(String(event.message)),
      ),
    ).toBe(true);
    // Stopped before the run ended, not left to notice its closed stdin later.
    expect(processesTaggedBy(cli.pid)).toEqual([]);
    expect(await waitForProcessGone(waiting[0]!, 0)).toBe(true);
  });

  it('one that died before its job is replaced by a new one: the backup is exact', async () => {
    const disk = createDisk(path.join(ws.dir, 'd1.qcow2'), 64 * MiB);
    writeDisk(disk, ['write -P 0x22 0 8M', 'write -P 0x23 40M 4M']);
    const copy = keepCopy(disk, `${disk}.now`);
    const plan = writePlan(ws.dir, {
      name: 'replaced',
      vm: 'replaced',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const cli = startSendenseRun([plan, '--db', ws.db]);
    started.add(cli.pid);
    await cli.waitForEvent((event) => event.type === 'step-start' && event.step === 'resolve-chain');
    const [waiting] = waitingTransfers(cli.pid);
    expect(waiting).toBeDefined();
    process.kill(waiting!, 'SIGKILL');
    const end = await cli.exited;
    expect(end.exitCode, end.stderr).toBe(0);
    const [backup] = await listBackups(ws.db, 'replaced');
    expect(backup!.status).toBe('complete');
    expect(differenceBetween(backup!.disks[0]!.file, copy)).toBe('');
  });
});
