// The one suite every backup source runs (src/source/backup-source.ts), in the manner of the copy
// targets' suite (test/copy/conformance/): a test file per source (./qemu-source.test.ts,
// ./nbd-source.test.ts, ...) says how to make one, how its guest writes, and what it can do, and
// gets every case here, run through the real CLI. A full restores byte-exact to the source; an
// incremental after writes restores byte-exact and moves only the changed areas (the backup's
// recorded bytes); a missing disk fails with one clear line and leaves no process or port lease; a
// second plan's backups of the same source leave the first plan's chain exact. A case a source
// cannot support is named, with its reason, in `notApplicable` and not registered (nothing is skipped).

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRestorePlan } from '../../restore/restore-plan.js';
import { leasedPorts, recordedProcesses } from '../../support/process-tree.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import {
  listBackups,
  parseEvents,
  sendenseRun,
  startSendenseRun,
  type BackupRow,
  type CliResult,
} from '../../support/sendense-cli.js';
import { portRangeForTestFile } from '../../support/vm-disks.js';

// A case the implementation cannot support is not registered at all: nothing is reported as skipped.
const itIf = (applicable: boolean): typeof it => (applicable ? it : ((() => undefined) as unknown as typeof it));

const MiB = 1024 * 1024;

/** The cases of the suite a source may be unable to run. */
export type SourceCase = 'incremental' | 'missing disk' | 'second plan' | 'disappears mid-way';

/** An image holding the guest's bytes as they are now, to compare a restore with. */
export interface GuestImage {
  readonly file: string;
  readonly format: 'qcow2' | 'raw';
}

/** How a test file makes its source (one VM, one disk, key 2000), and what it says that source can do. */
export interface BackupSourceInstance {
  /** Made once, before the file's tests, in `dir`. */
  setup(dir: string): Promise<void>;
  /** The plan's `vm.source`, naming the disk; `missing`: a disk that is not there. */
  source(options?: { readonly missing?: boolean }): Record<string, unknown>;
  /** What the run needs in its environment (a password). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * How a backup run is started: the built CLI in a child process (default), or the CLI's main in
   * this process for a type registered here (a test's own, test/source/test-source/). Restores are
   * always the built CLI's.
   */
  readonly runBackup?: (args: readonly string[], env?: Readonly<Record<string, string>>) => Promise<CliResult>;
  /** The guest writes (qemu-io commands: `write -P 0x5 1M 1M`), between runs. */
  write(commands: readonly string[]): Promise<void>;
  /** The guest's disk as it is now (between runs). */
  current(dir: string): Promise<GuestImage>;
  /** The line a run over a missing disk fails with. */
  readonly missingError: RegExp;
  /** The cases it cannot support, and why. */
  readonly notApplicable: Partial<Readonly<Record<SourceCase, string>>>;
  /** The source goes away (its server stopped) while a run reads it; `back` brings it again. */
  disappear?(): Promise<void>;
  reappear?(): Promise<void>;
  /** The line a run whose source went away mid-way fails with. */
  readonly goneError?: RegExp;
  /** What a run took on the source and still holds (a vSphere snapshot): none after any run. */
  held?(): Promise<readonly string[]>;
  /** Starts tracking changes once the guest holds its first data (an export's own bitmap, added before the first backup). */
  track?(): Promise<void>;
  /** Called once after the file's tests. */
  done?(): Promise<void>;
}

// '' when the two images show the same guest bytes, else what qemu-img said.
function difference(a: GuestImage, b: GuestImage): string {
  const result = spawnSync('qemu-img', ['compare', '-f', a.format, '-F', b.format, a.file, b.file], {
    encoding: 'utf8',
  });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

export function backupSourceSuite(name: string, instance: BackupSourceInstance): void {
  const ports = portRangeForTestFile(12);
  const ws = useRunWorkspace(`sendense-source-suite-${name}-`, { per: 'file' });
  const vm = `${name}-vm`;
  let restores = 0;

  const planFile = (plan: string, source: Record<string, unknown>, rate?: string): string => {
    const file = path.join(ws.dir, `${plan}.yaml`);
    const doc = {
      version: 1,
      kind: 'incremental',
      name: plan,
      vm: { name: vm, source },
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      ...(rate === undefined ? {} : { rate }),
    };
    writeFileSync(file, stringify(doc));
    return file;
  };
  const back = (plan: string, source = instance.source()): Promise<CliResult> =>
    (instance.runBackup ?? sendenseRun)([planFile(plan, source), '--db', ws.db], { ...instance.env });
  const latest = async (plan: string): Promise<BackupRow> =>
    (await listBackups(ws.db, vm)).filter((backup) => backup.plan === plan && backup.status === 'complete').at(-1)!;
  // Restores `point` to a raw file through the real CLI.
  const restore = async (point: string): Promise<GuestImage> => {
    const dir = path.join(ws.dir, `restore-${++restores}`);
    mkdirSync(dir);
    const plan = writeRestorePlan(dir, {
      name: `restore-${restores}`,
      vm,
      repository: ws.repository,
      ports,
      point,
      target: { type: 'file', path: path.join(dir, 'disk-{key}.raw'), format: 'raw' },
    });
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    return { file: path.join(dir, 'disk-2000.raw'), format: 'raw' };
  };
  const nothingHeld = async () => {
    expect(recordedProcesses(ws.db)).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect((await instance.held?.()) ?? []).toEqual([]);
  };
  const applies = (what: SourceCase) => instance.notApplicable[what] === undefined;
  const notApplicable = (what: SourceCase) => `${what}: not applicable (${instance.notApplicable[what]})`;

  beforeAll(async () => {
    await instance.setup(ws.dir);
    await instance.write(['write -P 0x11 0 4M', 'write -P 0x12 20M 2M', 'write -P 0x13 30M 512']);
    await instance.track?.();
  }, 300_000);
  afterAll(async () => {
    await instance.done?.();
  }, 120_000);

  describe(`the ${name} backup source`, () => {
    it('a full backup restores byte-exact to the source', async () => {
      const result = await back('first');
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      const full = await latest('first');
      expect(full).toMatchObject({ type: 'full', restorable: true });
      const source = await instance.current(ws.dir);
      expect(difference(await restore(full.id), source)).toBe('');
      await nothingHeld();
    });

    itIf(applies('incremental'))(
      applies('incremental')
        ? 'an incremental after writes restores byte-exact and moves only the changed areas'
        : notApplicable('incremental'),
      async () => {
        await instance.write(['write -P 0x21 8M 1M', 'write -z 0 64K', 'write -P 0x22 30M 4K']);
        const result = await back('first');
        expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
        const incremental = await latest('first');
        expect(incremental.type).toBe('incremental');
        // About 1 MiB changed on a disk holding 6 MiB: the backup recorded no more than the changed areas.
        expect(incremental.disks[0]!.bytes).toBeGreaterThan(0);
        expect(incremental.disks[0]!.bytes).toBeLessThanOrEqual(2 * MiB);
        const source = await instance.current(ws.dir);
        expect(difference(await restore(incremental.id), source)).toBe('');
        await nothingHeld();
      },
    );

    itIf(applies('second plan'))(
      applies('second plan')
        ? "a second plan's backups of the same source leave the first plan's chain exact"
        : notApplicable('second plan'),
      async () => {
        await instance.write(['write -P 0x31 12M 1M']);
        const other = await back('second');
        expect(other.exitCode, `${other.stdout}\n${other.stderr}`).toBe(0);
        const second = await latest('second');
        expect(difference(await restore(second.id), await instance.current(ws.dir))).toBe('');
        await instance.write(['write -P 0x32 14M 1M']);
        const result = await back('first');
        expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
        const first = await latest('first');
        // The first plan's chain goes on where the source tracks changes.
        expect(first.type).toBe(applies('incremental') ? 'incremental' : 'full');
        expect(difference(await restore(first.id), await instance.current(ws.dir))).toBe('');
        await nothingHeld();
      },
    );

    itIf(applies('missing disk'))(
      applies('missing disk')
        ? 'a missing disk fails with one clear line and leaves no process or port lease'
        : notApplicable('missing disk'),
      async () => {
        const complete = async () => (await listBackups(ws.db, vm)).filter((b) => b.status === 'complete').length;
        const before = await complete();
        const result = await back('missing', instance.source({ missing: true }));
        expect(result.exitCode, result.stdout).not.toBe(0);
        // The run's end line states the error, once; no stack trace.
        const lines = result.stderr.trim().split('\n');
        expect(
          lines.filter((line) => instance.missingError.test(line)),
          result.stderr,
        ).toHaveLength(1);
        expect(lines.at(-1)).toMatch(/^run \S+ failed in [\d.]+ s: /);
        expect(result.stderr).not.toMatch(/^\s+at /m);
        expect(await complete()).toBe(before);
        await nothingHeld();
      },
    );

    itIf(applies('disappears mid-way'))(
      applies('disappears mid-way')
        ? 'a source that disappears mid-way fails the run in one clear line and leaves nothing held'
        : notApplicable('disappears mid-way'),
      async () => {
        // 1 MiB/s: the full of about 8 MiB is still reading when the source goes away.
        const running = startSendenseRun([planFile('vanishing', instance.source(), '1MiB/s'), '--db', ws.db], {
          ...instance.env,
        });
        try {
          // Mid-way: once the transfer has copied some of the disk.
          await running.waitForEvent((event) => (event.bytesDone ?? 0) > 0);
          await instance.disappear!();
          const { exitCode, stdout } = await running.exited;
          expect(exitCode, stdout).toBe(1);
          const end = parseEvents(stdout).find((event) => event.type === 'run-end');
          expect(end).toMatchObject({ status: 'failed' });
          expect(end!.error).toMatch(/^step transfer, disk 2000: /);
          expect(end!.error).toMatch(instance.goneError!);
          expect(end!.error).not.toContain('\n');
          expect(
            (await listBackups(ws.db, vm)).filter((b) => b.plan === 'vanishing' && b.status === 'complete'),
          ).toEqual([]);
          await nothingHeld();
        } finally {
          await instance.reappear!();
          await running.exited;
        }
      },
    );
  });
}
