// Output closed by the reader (`sendense-run ... | head -1`): the run still finishes and gives
// back everything it took; listing commands end quietly instead of crashing on EPIPE.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotedProcesses } from '../support/processes.js';
import { leasedPorts } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN, listBackups, runStatuses, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('cli-closed-output-');
const started = new NotedProcesses();

afterEach(() => {
  started.killAll();
});

// Runs the CLI, closes its stdout after the first line (or at once), and waits for it to exit.
function runReadingOneLine(
  args: readonly string[],
  readNothing = false,
): Promise<{ exitCode: number | null; stderr: string; firstLine: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1' },
  });
  started.add(child.pid);
  let stderr = '';
  let firstLine = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    if (firstLine) return;
    firstLine = chunk.toString().split('\n')[0];
    child.stdout.destroy();
  });
  if (readNothing) child.stdout.destroy();
  return new Promise((resolve) => child.once('close', (exitCode) => resolve({ exitCode, stderr, firstLine })));
}

describe('output closed by the reader', () => {
  it('a run piped into head -1 still completes its backup and gives back its ports', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 64 * MiB);
    writeDisk(disk, ['write -P 0x41 0 8M']);
    const plan = writePlan(ws.dir, {
      name: 'closed-out',
      vm: 'closed-out',
      disks: [{ key: 2000, path: disk }],
      repository: path.join(ws.dir, 'repo'),
      ports: portRangeForTestFile(),
    });

    const run = await runReadingOneLine(['--json', plan, '--db', ws.db]);

    expect(run.firstLine).toContain('"run-start"');
    expect(run.stderr).not.toContain('EPIPE');
    expect(run.exitCode).toBe(0);
    expect(await runStatuses(ws.db)).toEqual(['succeeded']);
    const [backup] = await listBackups(ws.db);
    expect(backup.status).toBe('complete');
    expect(differenceBetween(backup.disks[0].file, disk)).toBe('');
    expect(leasedPorts(ws.db)).toEqual([]);
  });

  it('backups whose reader is gone ends without a crash', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * MiB);
    const plan = writePlan(ws.dir, {
      name: 'closed-list',
      vm: 'closed-list',
      disks: [{ key: 2000, path: disk }],
      repository: path.join(ws.dir, 'repo'),
      ports: portRangeForTestFile(),
    });
    for (let i = 0; i < 3; i++) expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);

    const listing = await runReadingOneLine(['backups', '--db', ws.db], true);

    expect(listing.stderr).toBe('');
    expect(listing.exitCode).toBe(0);
  });
});
