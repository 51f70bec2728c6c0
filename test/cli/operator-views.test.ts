// What an operator reads: plain progress whose percentages agree with its byte counts, history
// as aligned columns (the kind actually taken, a killed run as died), backups as one line per
// point with the space used on disk.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatBytes } from '../../src/format/bytes.js';
import { startNbdkit, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun, writePlan } from '../support/sendense-cli.js';
import { waitForProcessGone } from '../support/processes.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-views-');
const servers = useNbdServers();
const ports = portRangeForTestFile();
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function bytesOf(text: string): number {
  const [value, unit] = text.split(' ');
  return Number(value) * UNITS[unit];
}

// A plan reading throttled nbdkit exports (4 MiB/s each after a burst): a transfer long enough to report progress.
async function throttledPlan(disks: number): Promise<string> {
  const urls: string[] = [];
  for (let i = 0; i < disks; i++) {
    const server = await startNbdkit(
      ['--filter=rate', 'data', `data=(0x${i + 1}7)*16777216`, 'size=16M', 'rate=32M'],
      path.join(ws.dir, `kit${i}.sock`),
    );
    servers.push(server);
    urls.push(server.url);
  }
  const file = path.join(ws.dir, 'throttled.yaml');
  const vm = { name: 'views-vm', source: { type: 'nbd', disks: urls.map((url, i) => ({ key: 2000 + i, url })) } };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'backup',
      name: 'throttled',
      vm,
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  return file;
}

describe('operator views', () => {
  it('plain progress: each percentage is the one of its byte counts; a total with throughput, elapsed and ETA', async () => {
    const result = await sendenseRun([await throttledPlan(2), '--db', ws.db]);
    expect(result.exitCode, result.stderr).toBe(0);
    const disks = [...result.stdout.matchAll(/^ {2}disk (\d+): ([\d.]+ \w+) \/ ([\d.]+ \w+) \((\d+)%\)$/gm)];
    expect(disks.length).toBeGreaterThan(2);
    for (const [line, , done, toDo, percent] of disks) {
      // formatBytes keeps 3 significant digits: the shown bytes give the percentage to within 1.
      expect(Math.abs((bytesOf(done) / bytesOf(toDo)) * 100 - Number(percent)), line).toBeLessThan(1.5);
    }
    const totals = [
      ...result.stdout.matchAll(
        /^ {2}total: ([\d.]+ \w+) \/ ([\d.]+ \w+) \((\d+)%\), [\d.]+ \w+\/s, \d+:\d\d elapsed, ETA (\d+:\d\d|\?)$/gm,
      ),
    ];
    expect(totals.length).toBeGreaterThan(0);
    expect(totals.at(-1)![0]).toMatch(/total: 32\.0 MiB \/ 32\.0 MiB \(100%\), .* ETA 0:00$/);
  });

  it('history: a header, aligned columns, local time to the second, the kind taken; a killed run is died', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * 1024 * 1024);
    writeDisk(disk, ['write -P 0x31 0 2M']);
    const plan = writePlan(ws.dir, {
      name: 'views',
      vm: 'views-vm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    for (let i = 0; i < 2; i++) expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);

    const killed = startSendenseRun([await throttledPlan(1), '--db', ws.db]);
    await killed.waitForEvent((event) => event.type === 'progress');
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect(await waitForProcessGone(killed.pid)).toBe(true);

    const history = await sendenseRun(['history', '--db', ws.db]);
    expect(history.exitCode, history.stderr).toBe(0);
    const lines = history.stdout.split('\n');
    expect(lines[0]).toMatch(/^STARTED +PLAN +KIND +TRIGGER +STATUS +DURATION +BYTES +BACKUP +POINT +RUN$/);
    expect(lines).toHaveLength(4);
    const status = lines[0].indexOf('STATUS');
    const kind = lines[0].indexOf('KIND');
    const cell = (line: string, at: number) => line.slice(at).split(/ {2,}/)[0];
    expect(lines.slice(1).map((line) => [cell(line, kind), cell(line, status)])).toEqual([
      ['full', 'died'],
      ['incremental', 'succeeded'],
      ['full', 'succeeded'],
    ]);
    for (const line of lines.slice(1)) expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}/);
    expect(lines[3]).toMatch(/ 2\.0 MiB {2}/);
    const json = (await sendenseRun(['history', '--json', '--db', ws.db])).stdout
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(json.map((run) => [run.taken, run.status])).toEqual([
      ['full', 'died'],
      ['incremental', 'succeeded'],
      ['full', 'succeeded'],
    ]);
    // What the killed run left (its qemu-nbd and socket, its file), as an operator would clear it.
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  });

  it('backups: one line per point, change_ids only with --verbose, space on disk per chain and repository', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * 1024 * 1024);
    writeDisk(disk, ['write -P 0x41 0 3M']);
    const plan = writePlan(ws.dir, {
      name: 'views',
      vm: 'views-vm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    for (let i = 0; i < 2; i++) expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);

    const compact = (await sendenseRun(['backups', '--db', ws.db])).stdout;
    const lines = compact.split('\n');
    expect(lines[0]).toBe(`VM views-vm  repository ${ws.repository}`);
    expect(lines[1]).toMatch(/^ {2}chain \S+ of plan views: 2 points, 1 disk, [\d.]+ \w+ on disk$/);
    expect(lines[2]).toMatch(/^ {4}ID +KIND +STATUS +TAKEN +COPIED +ON DISK +RESTORABLE +VERIFIED$/);
    expect(lines[3]).toMatch(/^ {4}\S+ +full +complete +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +3\.0 MiB +[\d.]+ \w+ +yes +-$/);
    expect(lines[4]).toMatch(/^ {4}\S+ +incremental +complete +.* +yes +-$/);
    expect(compact).not.toContain('change_id');
    const du = Number(execFileSync('du', ['-s', '--block-size=1', ws.repository], { encoding: 'utf8' }).split('\t')[0]);
    // du counts the directories too; the total counts files: the same figure to within a few KiB.
    const total = /^repository .*: ([\d.]+ \w+) on disk$/m.exec(compact)![1];
    expect(Math.abs(bytesOf(total) - du)).toBeLessThan(64 * 1024);
    expect(formatBytes(bytesOf(total))).toBe(total);

    const verbose = (await sendenseRun(['backups', '--verbose', '--db', ws.db])).stdout;
    expect(verbose).toMatch(
      /^ {6}disk 2000: 16\.0 MiB virtual, 3\.0 MiB copied, [\d.]+ \w+ on disk, change_id sendense-\S+, \S+\.qcow2$/m,
    );
  });
});
