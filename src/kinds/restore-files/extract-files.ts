// extract-files: the plan's NAME:/PATH list, read through one libguestfs appliance on this
// host (where the repository is) and written into restore.target.to — on this host directly,
// or on the node through the SSH link (src/files/deliver-to-node.ts). The appliance's agent is
// recorded as a process of the run and always stopped in cleanup.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FilesRestoreRun } from './files-restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { openAppliance } from '../../files/appliance.js';
import { openPointDrive } from '../../files/point-drive.js';
import { checkNodeTarget, sendToNode } from '../../files/deliver-to-node.js';
import { extractPaths, guestfsSource, type ExtractResult } from '../../files/extract.js';
import { checkExtractTarget, parseExtractTarget, type ExtractTarget } from '../../files/extract-target.js';
import { readDiskLayout } from '../../files/filesystems.js';
import { GuestFiles, asUserError } from '../../files/guest-files.js';
import { parseGuestPath } from '../../files/guest-path.js';
import { formatBytes } from '../../format/bytes.js';

export const extractFiles: Step<FilesRestoreRun> = {
  name: 'extract-files',
  facts: ({ plan }) => ({ to: plan.restore.target.to, paths: [...plan.restore.target.paths] }),
  title: (run) =>
    `extract ${run.plan.restore.target.paths.join(', ')} into ${run.plan.restore.target.to} on ${run.node.description}`,
  async run(run) {
    const { target } = run.plan.restore;
    const to = parseExtractTarget(target.to);
    const wanted = target.paths.map((text) => parseGuestPath(text));
    try {
      // Refused before the appliance starts (half a minute under software emulation).
      if (run.node.isLocal) checkExtractTarget(to, target.overwrite);
      else await checkNodeTarget(run, to, target.overwrite);
      // For a node: made in a scratch dir here first, a plain tar when the destination is a directory.
      const scratch = run.node.isLocal ? undefined : scratchDir(run);
      const here: ExtractTarget =
        scratch === undefined
          ? to
          : {
              format: to.format === 'dir' ? 'tar' : to.format,
              path: path.join(scratch, `files.${to.format === 'dir' ? 'tar' : to.format}`),
            };
      const result = await extractOnHub(run, wanted, here);
      if (scratch !== undefined) await sendToNode(run, here.path, to, target.overwrite);
      return `${result.paths.length} path(s), ${formatBytes(result.bytes)}, into ${to.path}${run.node.isLocal ? '' : ` on ${run.node.description}`}`;
    } catch (error) {
      if (run.signal.aborted)
        throw new SendenseError('interrupted', { step: 'extract-files', exitCode: 130, cause: error });
      const user = asUserError(error);
      if (isSendenseError(user) && user.step === undefined)
        throw new SendenseError(user.message, { step: 'extract-files', exitCode: user.exitCode, cause: user.cause });
      throw user;
    }
  },
  would(run) {
    const { target } = run.plan.restore;
    const node = run.plan.node ? ` on ${run.node.description} (streamed through SSH)` : '';
    return `${target.paths.join(', ')} into ${target.to}${target.overwrite ? ' (overwrite)' : ''}${node}, read through a libguestfs appliance on this host`;
  },
};

async function extractOnHub(
  run: FilesRestoreRun,
  wanted: ReturnType<typeof parseGuestPath>[],
  to: ExtractTarget,
): Promise<ExtractResult> {
  const point = run.state.point;
  const info = (message: string) => run.reporter.emit({ type: 'info', message, step: 'extract-files' });
  // An encrypted point: its key asked first, then its qemu-nbd recorded under the run as it starts;
  // a plain one's qemu-nbd dies with us.
  const drive = await openPointDrive(point.disk.file, { records: run.store, runId: async () => run.runId });
  run.undo.push({
    what: `stop qemu-nbd (pid ${drive.serverPid}) reading ${drive.encrypted ? 'the encrypted ' : ''}${point.disk.file}`,
    when: 'always',
    step: 'extract-files',
    run: () => drive.close(),
  });
  const { agent } = await openAppliance(drive, { note: info });
  await run.store.recordProcess(run.runId, agent.pid, 'libguestfs', ['perl', 'guestfs-agent.pl', point.disk.file]);
  run.undo.push({
    what: `stop the libguestfs appliance (agent pid ${agent.pid})`,
    when: 'always',
    step: 'extract-files',
    run: async () => {
      await agent.close();
      await run.store.forgetProcess(agent.pid);
    },
  });
  const onAbort = () => agent.kill();
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const files = new GuestFiles(agent, await readDiskLayout(agent), point.where);
    return await extractPaths(guestfsSource(files), wanted, to, { overwrite: false, progress: info });
  } finally {
    run.signal.removeEventListener('abort', onAbort);
  }
}

function scratchDir(run: FilesRestoreRun): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-files-'));
  run.undo.push({
    what: `remove ${dir}`,
    when: 'always',
    step: 'extract-files',
    run: async () => rmSync(dir, { recursive: true, force: true }),
  });
  return dir;
}
