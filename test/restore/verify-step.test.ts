// The verify step on its own: a restored disk equal to the backup (served by a read-only qemu-nbd,
// as the restore serves it) passes; one changed byte in the restored file fails with a clear error.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RestoreRun } from '../../src/kinds/restore/restore-run.js';
import { fileTarget } from '../../src/restore/targets/file-target.js';
import { isSendenseError } from '../../src/errors.js';
import { createLocalNode } from '../../src/node/local.js';
import { verify } from '../../src/kinds/restore/verify.js';
import { startQemuNbd, type TestNbdServer } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('verify-step-');
let server: TestNbdServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

// A backup file served read-only, and a restored qcow2 copy of it.
async function backupAndRestored(): Promise<{ run: RestoreRun; restored: string }> {
  const backup = path.join(ws.dir, 'backup.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', backup, String(16 * MiB)]);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x3c 1M 2M', '-c', `write -P 0x4d ${15 * MiB} 1M`, backup]);
  const restored = path.join(ws.dir, 'restored.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', backup, restored]);
  server = await startQemuNbd({ file: backup, readOnly: true, exportName: 'vm-disk-2000' });
  const port = Number(new URL(server.url).port);
  const run = {
    plan: { restore: { verify: true, target: { type: 'file', path: restored, format: 'qcow2', overwrite: false } } },
    target: fileTarget({ type: 'file', path: restored, format: 'qcow2', overwrite: false, mode: 0o600 }),
    node: createLocalNode(),
    // No recorded chain: only the comparison with the served backup is under test here.
    store: { chainOf: async () => [] },
    state: {
      backupId: 'b1',
      disks: [
        { key: 2000, file: backup, virtualSize: 16 * MiB, exportName: 'vm-disk-2000', port, targetPath: restored },
      ],
    },
  } as unknown as RestoreRun;
  return { run, restored };
}

describe('verify step', () => {
  it('passes when the restored disk equals the backup', async () => {
    const { run } = await backupAndRestored();
    await expect(verify.run(run)).resolves.toContain('identical to backup b1');
  });

  it('fails with the disk and the first difference when one byte of the restored disk changed', async () => {
    const { run, restored } = await backupAndRestored();
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x01 9M 512', restored]);
    const error = await verify.run(run).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isSendenseError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /restored disk 2000 \(.*restored\.qcow2\) differs from backup b1: .*9437184/,
    );
  });
});
