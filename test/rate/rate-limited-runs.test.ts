// Bandwidth limits through the built CLI with real qemu-nbd and NBD traffic (docs/bandwidth.md):
// a plan's rate holds on a 512 MiB backup, a restore on this host holds to its rate too, and a hub
// window that opens mid-transfer lowers the rate of the running transfer (the same process) to
// each setting: each within what may be in flight (expectTransferWithinLimit; on a quiet host the
// 16 MiB/s backup reads 16.00 MiB/s). The rates are the bytes the node transfer read (the
// kernel's count for its PID, sampled from outside with the time of each reading), not the times
// the hub stamped on its progress events: on a starved CPU the hub reads those late and in bunches,
// which made a transfer that kept to its limit look 10% over it.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  expectTransferWithinLimit,
  localClock,
  readRateBetween,
  sampleReadBytes,
  whileReading,
  windowText,
  type ReadSample,
  type TimedEvent,
} from '../support/measured-rate.js';
import {
  listBackups,
  sendenseRun,
  startSendenseRun,
  writePlan,
  parseEvents,
  type RunningCli,
} from '../support/sendense-cli.js';
import { createDisk, differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { writeRestorePlan } from '../restore/restore-plan.js';

const MiB = 1024 * 1024;
const [first, last] = portRangeForTestFile();
const ws = useRunWorkspace('rate-');

function vmWithData(name: string, bytes: number): { disk: string; plan: (rate?: string) => string } {
  const disk = createDisk(path.join(ws.dir, `${name}-2000.qcow2`), bytes);
  // Data everywhere: every byte is read and written (zeroes would go as WRITE_ZEROES, unlimited).
  writeDisk(disk, [`write -P 0x5a 0 ${bytes}`]);
  const plan = (rate?: string) =>
    writePlan(ws.dir, {
      name: `${name}-nightly`,
      kind: 'backup',
      vm: name,
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports: [first, last],
      rate,
    });
  return { disk, plan };
}

// The rate lines of the node transfer as the hub reports them: its PID and the rate it holds to.
function transferRates(events: readonly TimedEvent[]): { ms: number; pid: number; text: string }[] {
  return events.flatMap((event) => {
    const match =
      event.type === 'info' && event.step === 'transfer'
        ? /^node transfer \(pid (\d+)\): (.*)$/.exec(event.message ?? '')
        : null;
    return match ? [{ ms: Date.parse(event.time), pid: Number(match[1]), text: match[2]! }] : [];
  });
}

const TRANSFER_PID = /^node transfer \(pid (\d+)\): /;

// Runs to its end, sampling what its node transfer reads from the moment the transfer says its PID
// (its first rate line): the result and the samples while it read.
async function runSampled(running: RunningCli) {
  const sampling = running
    .waitForEvent((event) => event.type === 'info' && TRANSFER_PID.test(event.message ?? ''))
    .then((event) => sampleReadBytes(Number(TRANSFER_PID.exec(event.message!)![1])));
  const result = await running.exited;
  const sampler = await sampling.catch(() => undefined);
  const samples: ReadSample[] = whileReading(sampler?.stop() ?? []);
  return { result, samples };
}

describe('rate-limited runs', () => {
  it('a 512 MiB backup with rate: 16MiB/s holds the rate (within what is in flight); the backup is exact; a restore here holds its rate too', async () => {
    const vm = vmWithData('paced', 512 * MiB);
    const plan = vm.plan('16MiB/s');
    const dry = await sendenseRun([plan, '--dry-run', '--db', ws.db]);
    expect(dry.stdout).toMatch(
      /transfer +node transfer on this host: allocated data, limited to 16 MiB\/s \(plan rate\)/,
    );

    const { result, samples } = await runSampled(startSendenseRun([plan, '--db', ws.db]));
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const events = parseEvents(result.stdout) as TimedEvent[];
    expect(events.find((event) => event.type === 'step-start' && event.step === 'transfer')?.title).toBe(
      'copy allocated data of 1 disk from this host, limited to 16 MiB/s (plan rate)',
    );
    expect(transferRates(events).map((rate) => rate.text)).toEqual(['limited to 16 MiB/s (plan rate)']);
    // The steady part: the first 2 s (start-up, the first request that goes at once) and the last second left out.
    const steady = readRateBetween(samples, samples[0]!.to + 2000, samples.at(-1)!.from - 1000);
    expect(steady.seconds).toBeGreaterThan(25);
    console.info(
      `backup: the transfer read ${(steady.rate / MiB).toFixed(3)} MiB/s over ${steady.seconds.toFixed(1)} s (limit 16 MiB/s)`,
    );
    expectTransferWithinLimit(steady, 16 * MiB);
    const backup = (await listBackups(ws.db, 'paced')).at(-1)!;
    expect(differenceBetween(backup.disks[0]!.file, vm.disk)).toBe('');

    // A restore into a file on this host goes through the node transfer when a rate applies.
    const target = path.join(ws.dir, 'restored.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'paced-restore',
      vm: 'paced',
      repository: ws.repository,
      ports: [first, last],
      point: 'latest',
      disks: [2000],
      target: { type: 'file', path: target, format: 'qcow2' },
      rate: '64MiB/s',
    });
    const restoreDry = await sendenseRun([restorePlan, '--dry-run', '--db', ws.db]);
    expect(restoreDry.stdout).toContain(
      'node transfer on this host: allocated data of disk 2000, limited to 64 MiB/s (plan rate)',
    );
    const { result: restore, samples: restoreSamples } = await runSampled(
      startSendenseRun([restorePlan, '--db', ws.db]),
    );
    expect(restore.exitCode, restore.stdout + restore.stderr).toBe(0);
    const restoreEvents = parseEvents(restore.stdout) as TimedEvent[];
    expect(transferRates(restoreEvents).map((rate) => rate.text)).toEqual(['limited to 64 MiB/s (plan rate)']);
    const restored = readRateBetween(restoreSamples, restoreSamples[0]!.to + 1000, restoreSamples.at(-1)!.from - 500);
    console.info(
      `restore: the transfer read ${(restored.rate / MiB).toFixed(3)} MiB/s over ${restored.seconds.toFixed(1)} s (limit 64 MiB/s)`,
    );
    // A limit, not a promise: never above it (a busy host may fall short).
    expect(restored.seconds).toBeGreaterThan(3);
    expectTransferWithinLimit(restored, 64 * MiB);
    expect(differenceBetween(target, vm.disk)).toBe('');
  }, 300_000);

  it('a hub window opening mid-transfer lowers the rate of the running transfer, which is not restarted', async () => {
    const vm = vmWithData('windowed', 544 * MiB);
    // The window opens 20 s from now (to the second) and lasts two hours, every day: 24 MiB/s, then
    // 8 MiB/s. 20 s: on a loaded machine the run may take over 10 s to start its transfer, and the
    // rate before the window must still be measured over a few seconds (at most 480 MiB go before
    // it, at least 64 MiB after: 8 s at 8 MiB/s).
    const opens = new Date(Math.ceil((Date.now() + 20_000) / 1000) * 1000);
    const closes = new Date(opens.getTime() + 2 * 3600_000);
    const hub = path.join(ws.dir, 'hub.yaml');
    writeFileSync(
      hub,
      `rate: 24MiB/s\nnbd: { ports: ${first}-${last} }\nwindows:\n  - { days: mon-sun, from: "${localClock(opens)}", to: "${localClock(closes)}", rate: 8MiB/s }\n`,
    );
    const { result, samples } = await runSampled(startSendenseRun([vm.plan(), '--db', ws.db, '--hub-config', hub]));
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const events = parseEvents(result.stdout) as TimedEvent[];
    const window = `window ${windowText('mon-sun', opens, closes)}`;
    expect(events.find((event) => event.type === 'step-start' && event.step === 'transfer')?.title).toBe(
      `copy allocated data of 1 disk from this host, limited to 24 MiB/s (hub rate) now; windows: ${windowText('mon-sun', opens, closes)} 8 MiB/s`,
    );
    // One transfer: it said its first rate and the window's, with the same PID.
    const rates = transferRates(events);
    expect(rates.map((rate) => rate.text)).toEqual([
      'limited to 24 MiB/s (hub rate)',
      `limited to 8 MiB/s (${window})`,
    ]);
    expect(rates[1]!.pid).toBe(rates[0]!.pid);
    expect(events.filter((event) => event.type === 'step-start' && event.step === 'transfer')).toHaveLength(1);
    const changed = rates[1]!.ms;
    // Not before the window opened (to the second); later on a loaded machine, and the rate after shows it.
    expect(changed).toBeGreaterThanOrEqual(opens.getTime() - 1000);

    // Before: up to half a second before the window opened (the hub tells the transfer then, or
    // later). After: from a second after the hub heard the transfer's answer (it answers once its
    // bucket holds to the new rate; the requests it granted before go on arriving meanwhile).
    const before = readRateBetween(samples, samples[0]!.to + 1000, opens.getTime() - 500);
    const after = readRateBetween(samples, changed + 1000, samples.at(-1)!.from - 500);
    console.info(
      `window: the transfer read ${(before.rate / MiB).toFixed(3)} MiB/s over ${before.seconds.toFixed(1)} s before (24 MiB/s), ${(after.rate / MiB).toFixed(3)} MiB/s over ${after.seconds.toFixed(1)} s after (8 MiB/s)`,
    );
    expect(before.seconds).toBeGreaterThan(2);
    expect(after.seconds).toBeGreaterThan(5);
    expectTransferWithinLimit(before, 24 * MiB);
    expectTransferWithinLimit(after, 8 * MiB);
    const backup = (await listBackups(ws.db, 'windowed')).at(-1)!;
    expect(differenceBetween(backup.disks[0]!.file, vm.disk)).toBe('');
  }, 300_000);
});
