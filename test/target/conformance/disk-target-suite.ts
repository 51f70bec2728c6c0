// The one suite every restore target of whole disks runs (src/restore/targets/restore-disk-target.ts), in the manner
// of the copy targets' suite (test/copy/conformance/): a test file per target (./file-raw-target,
// ./file-qcow2-target, ./nbd-target .test.ts) says how to make one and what it can do, and gets
// every case here, run through the real CLI on one backed-up 2-disk VM per file. A restore is
// byte-exact; zeroes stay sparse where the target can; an existing target is refused without
// overwrite; an interrupted restore leaves nothing half-written presented as complete
// (docs/how-it-works.md#a-restore); errors are one line. A case a target cannot support is named,
// with its reason, in `notApplicable` and not registered (nothing is skipped).

import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backUpVm, DISK_KEYS, DISK_SIZES, type BackedUpVm } from '../../restore/restore-chain.js';
import { restoredDifference, writeRestorePlan, type RestoreTarget } from '../../restore/restore-plan.js';
import { leasedPorts, recordedProcesses } from '../../support/process-tree.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { BIN, sendenseRun, type CliResult } from '../../support/sendense-cli.js';
import { portRangeForTestFile } from '../../support/vm-disks.js';

// A case the implementation cannot support is not registered at all: nothing is reported as skipped.
const itIf = (applicable: boolean): typeof it => (applicable ? it : ((() => undefined) as unknown as typeof it));

/** The cases of the suite a target may be unable to run. */
export type TargetCase = 'sparse' | 'existing refused' | 'nothing presented';

/** How a test file makes its target, and what it says that target can do. */
export interface DiskTargetInstance {
  /** A fresh target for both disks ({key} in its path or URL), in `dir`. */
  make(dir: string, sizes: Readonly<Record<number, number>>): Promise<RestoreTarget>;
  /** What the restore wrote for `key`, as an image on this host. */
  restored(target: RestoreTarget, key: number): { readonly file: string; readonly format: 'qcow2' | 'raw' };
  /** Gives the disk `key` a target that exists already (file targets). */
  existing?(target: RestoreTarget, key: number): string;
  /** A target the restore cannot write, and the line that says why. */
  unwritable(dir: string): Promise<{ readonly target: RestoreTarget; readonly error: RegExp }>;
  /** Whether anything stands where the restored disk `key` is presented (a file's final name). */
  presented?(target: RestoreTarget, key: number): boolean;
  /** What a restore left half-written beside the targets (a partial file): none once the run is over. */
  halfWritten?(target: RestoreTarget): readonly string[];
  /** The cases it cannot support, and why. */
  readonly notApplicable: Partial<Readonly<Record<TargetCase, string>>>;
  /** Called once after the file's tests. */
  done?(): Promise<void>;
}

const MiB = 1024 * 1024;

export function diskTargetSuite(name: string, instance: DiskTargetInstance): void {
  const ports = portRangeForTestFile(12);
  const ws = useRunWorkspace(`sendense-target-suite-${name}-`, { per: 'file' });
  let vm: BackedUpVm;
  let restores = 0;

  // A restore of `point` into a fresh target, written as a plan; `rate` slows its transfer.
  const plan = async (point: string, options: { target?: RestoreTarget; rate?: string } = {}) => {
    const dir = path.join(ws.dir, `restore-${++restores}`);
    mkdirSync(dir);
    const target = options.target ?? (await instance.make(dir, DISK_SIZES));
    const file = writeRestorePlan(dir, {
      name: `restore-${restores}`,
      vm: vm.vm,
      repository: vm.repository,
      ports,
      point,
      target,
      rate: options.rate,
    });
    return { file, target, dir };
  };
  const run = (file: string): Promise<CliResult> => sendenseRun([file, '--db', vm.db]);
  const ok = (result: CliResult) => expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const nothingHeld = () => {
    expect(recordedProcesses(vm.db)).toEqual([]);
    expect(leasedPorts(vm.db)).toEqual([]);
  };
  const applies = (what: TargetCase) => instance.notApplicable[what] === undefined;
  const title = (what: TargetCase, text: string) =>
    applies(what) ? text : `${what}: not applicable (${instance.notApplicable[what]})`;

  beforeAll(async () => {
    vm = await backUpVm(ws.dir, { vm: `${name}-vm`, ports, points: 2 });
  }, 300_000);
  afterAll(async () => {
    await instance.done?.();
  }, 120_000);

  describe(`the ${name} restore target`, () => {
    it('restores every disk of the newest point and of the full byte-exact', async () => {
      for (const [point, copies] of [
        ['latest', vm.copies[1]!],
        [vm.backups[0]!.id, vm.copies[0]!],
      ] as const) {
        const { file, target } = await plan(point);
        ok(await run(file));
        for (const key of DISK_KEYS) {
          const restored = instance.restored(target, key);
          expect(restoredDifference(copies[key]!, restored.file, restored.format), `disk ${key}`).toBe('');
        }
      }
      nothingHeld();
    });

    itIf(applies('sparse'))(title('sparse', 'keeps the zeroes of a disk sparse'), async () => {
      const { file, target } = await plan('latest');
      ok(await run(file));
      // Disk 2000 holds about 14 MiB of data in 64 MiB.
      const restored = instance.restored(target, 2000);
      expect(statSync(restored.file).blocks * 512).toBeLessThan(24 * MiB);
    });

    itIf(applies('existing refused'))(
      title('existing refused', 'refuses an existing target without overwrite, leaving it as it was'),
      async () => {
        const { file, target } = await plan('latest');
        const existing = instance.existing!(target, 2000);
        const before = statSync(existing);
        const result = await run(file);
        expect(result.exitCode, result.stdout).not.toBe(0);
        const lines = result.stderr.trim().split('\n');
        expect(
          lines.filter((line) => /already exists/.test(line)),
          result.stderr,
        ).toHaveLength(1);
        expect(result.stderr).not.toMatch(/^\s+at /m);
        expect(statSync(existing)).toMatchObject({ ino: before.ino, size: before.size, mtimeMs: before.mtimeMs });
        expect(instance.presented!(target, 2001)).toBe(false);
        nothingHeld();
      },
    );

    it(
      'a restore interrupted mid-copy exits 130, is recorded interrupted' +
        (applies('nothing presented')
          ? ', and presents no disk as restored'
          : ` (nothing presented: not applicable, ${instance.notApplicable['nothing presented']})`),
      async () => {
        // 2 MiB/s: the node transfer copies for seconds, long enough to be interrupted.
        const { file, target } = await plan('latest', { rate: '2MiB/s' });
        const child = spawn(process.execPath, [BIN, file, '--db', vm.db, '--json'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, CI: '1' },
        });
        let output = '';
        let sent = false;
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (!sent && output.includes('"type":"step-start","step":"transfer"')) sent = child.kill('SIGINT');
        });
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
        expect(sent, output).toBe(true);
        expect(code, output).toBe(130);
        const history = await sendenseRun(['history', '--json', '--plan', `restore-${restores}`, '--db', vm.db]);
        expect(JSON.parse(history.stdout.split('\n')[0]!)).toMatchObject({ status: 'interrupted' });
        if (applies('nothing presented'))
          for (const key of DISK_KEYS) expect(instance.presented!(target, key), `disk ${key}`).toBe(false);
        expect(instance.halfWritten?.(target) ?? []).toEqual([]);
        nothingHeld();
      },
    );

    it('a target it cannot write is refused in one line, and nothing is held', async () => {
      const dir = path.join(ws.dir, `unwritable-${++restores}`);
      mkdirSync(dir);
      const { target, error } = await instance.unwritable(dir);
      const { file } = await plan('latest', { target });
      const result = await run(file);
      expect(result.exitCode, result.stdout).not.toBe(0);
      const lines = result.stderr.trim().split('\n');
      expect(
        lines.filter((line) => error.test(line)),
        result.stderr,
      ).toHaveLength(1);
      expect(lines.at(-1)).toMatch(/^run \S+ failed in [\d.]+ s: /);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      nothingHeld();
    });
  });
}
