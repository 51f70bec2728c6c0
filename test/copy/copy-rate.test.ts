// A copy's bandwidth (docs/copies.md#limits, docs/bandwidth.md), over SSH through the real CLI:
// a point of 256 MiB of random data copied with rate: 16MiB/s goes at that rate within 5% and
// restores exactly from the copy; a hub window that opens mid-copy lowers the rate of the running
// copy within 10% of each setting, said in an info event at the boundary.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeRestorePlan } from '../restore/restore-plan.js';
import {
  expectWithinLimit,
  localClock,
  progressOf,
  rateBetween,
  windowText,
  type TimedEvent,
} from '../support/measured-rate.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun, startSendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { importedAndVerified, useCopySshd, writeCopyPlan } from './copy-support.js';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-rate-', { per: 'file' });
const node = useCopySshd();
const VM = 'ratevm';
let source = '';

// The copy's rate lines: "sending to the copy: limited to …", with their times.
function rateLines(events: readonly TimedEvent[]): { ms: number; text: string }[] {
  return events.flatMap((event) => {
    const match =
      event.type === 'info' && event.step === 'send-points'
        ? /^sending to the copy: (.*)$/.exec(event.message ?? '')
        : null;
    return match ? [{ ms: Date.parse(event.time), text: match[1]! }] : [];
  });
}

async function copyRun(args: readonly string[]): Promise<TimedEvent[]> {
  const result = await startSendenseRun(args).exited;
  expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  return parseEvents(result.stdout) as TimedEvent[];
}

function sendTitle(events: readonly TimedEvent[]): string | undefined {
  return events.find((event) => event.type === 'step-start' && event.step === 'send-points')?.title;
}

// One point of a raw disk full of random data: its file on the hub is about SIZE, nothing in it compresses.
beforeAll(async () => {
  source = path.join(ws.dir, 'random.raw');
  execFileSync('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', `count=${SIZE / MiB}`, 'status=none']);
  const plan = writePlan(ws.dir, {
    name: 'rate-backup',
    kind: 'backup',
    vm: VM,
    disks: [{ key: 2000, path: source, format: 'raw' }],
    repository: ws.repository,
    ports,
  });
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}, 120_000);

describe('a copy with a rate', () => {
  it('rate: 16MiB/s holds within 5% over the steady part; the copy restores exactly', async () => {
    const offsite = path.join(ws.dir, 'offsite-paced');
    const plan = writeCopyPlan(ws.dir, node.sshd, {
      name: 'paced',
      repository: ws.repository,
      to: offsite,
      vm: VM,
      rate: '16MiB/s',
    });
    const dry = await sendenseRun([plan, '--dry-run', '--db', ws.db]);
    expect(dry.stdout).toContain('sending to the copy: limited to 16 MiB/s (plan rate)');

    const events = await copyRun([plan, '--db', ws.db]);
    expect(sendTitle(events)).toMatch(/, oldest first, limited to 16 MiB\/s \(plan rate\)$/);
    expect(rateLines(events).map((line) => line.text)).toEqual(['limited to 16 MiB/s (plan rate)']);
    const points = progressOf(events, 2000);
    expect(points.at(-1)!.bytes).toBeGreaterThan(SIZE);
    // The steady part: the first second (the first chunk goes at once) and the last half second left out.
    const steady = rateBetween(points, points[0]!.ms + 1000, points.at(-1)!.ms - 500);
    console.info(`copy: ${(steady.rate / MiB).toFixed(3)} MiB/s over ${steady.seconds.toFixed(1)} s (limit 16 MiB/s)`);
    expect(steady.seconds).toBeGreaterThan(12);
    expectWithinLimit(steady.rate, 16 * MiB, 0.05);

    // From the copy alone: its own database, verify, and a restore of the point.
    const copyDb = await importedAndVerified(offsite, path.join(ws.dir, 'copy.db'));
    const point = (await listBackups(ws.db, VM)).at(-1)!.id;
    const restored = path.join(ws.dir, 'restored.raw');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'from-copy',
      vm: VM,
      repository: offsite,
      ports,
      point,
      disks: [2000],
      target: { type: 'file', path: restored, format: 'raw' },
    });
    const restore = await sendenseRun([restorePlan, '--db', copyDb]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    expect(execFileSync('cmp', [source, restored], { encoding: 'utf8' })).toBe('');
  }, 120_000);

  it('a hub window opening mid-copy lowers the rate of the running copy', async () => {
    const offsite = path.join(ws.dir, 'offsite-windowed');
    const plan = writeCopyPlan(ws.dir, node.sshd, {
      name: 'windowed',
      repository: ws.repository,
      to: offsite,
      vm: VM,
      verify: false,
    });
    // The window opens 10 s from now (to the second) and lasts two hours, every day: 16 MiB/s, then 6 MiB/s.
    // A run that starts sending within 6 s has 3 s at the first rate, as CI's loaded cores allow (a
    // start of 4.4 s left 2.6 s when the window opened at 7 s), and at least 18 s at the second.
    const opens = new Date(Math.ceil((Date.now() + 10_000) / 1000) * 1000);
    const closes = new Date(opens.getTime() + 2 * 3600_000);
    const window = windowText('mon-sun', opens, closes);
    const hub = path.join(ws.dir, 'hub.yaml');
    writeFileSync(
      hub,
      `rate: 16MiB/s\nwindows:\n  - { days: mon-sun, from: "${localClock(opens)}", to: "${localClock(closes)}", rate: 6MiB/s }\n`,
    );

    const events = await copyRun([plan, '--db', ws.db, '--hub-config', hub]);
    expect(sendTitle(events)).toMatch(
      new RegExp(`, oldest first, limited to 16 MiB/s \\(hub rate\\) now; windows: ${window} 6 MiB/s$`),
    );
    const rates = rateLines(events);
    expect(rates.map((line) => line.text)).toEqual([
      'limited to 16 MiB/s (hub rate)',
      `limited to 6 MiB/s (window ${window})`,
    ]);
    const changed = rates[1]!.ms;
    // Not before the window opened (to the second); later on a loaded machine, and the rate after shows it.
    expect(changed).toBeGreaterThanOrEqual(opens.getTime() - 1000);
    // One send-points step, one file: the same copy went on at the new rate.
    expect(events.filter((event) => event.type === 'step-start' && event.step === 'send-points')).toHaveLength(1);

    const points = progressOf(events, 2000);
    const before = rateBetween(points, points[0]!.ms + 1000, changed);
    const after = rateBetween(points, changed + 1000, points.at(-1)!.ms - 500);
    console.info(
      `copy window: ${(before.rate / MiB).toFixed(3)} MiB/s over ${before.seconds.toFixed(1)} s before (16 MiB/s), ${(after.rate / MiB).toFixed(3)} MiB/s over ${after.seconds.toFixed(1)} s after (6 MiB/s)`,
    );
    expect(before.seconds).toBeGreaterThan(3);
    expect(after.seconds).toBeGreaterThan(5);
    expectWithinLimit(before.rate, 16 * MiB, 0.1);
    expectWithinLimit(after.rate, 6 * MiB, 0.1);
  }, 120_000);
});
