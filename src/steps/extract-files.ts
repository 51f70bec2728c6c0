// extract-files: the plan's NAME:/PATH list, read through one libguestfs appliance on the
// point's disk, written into restore.target.to (a directory or an archive) on this host. The
// appliance's agent is recorded as a process of the run and always stopped in cleanup.

import type { FilesRestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError, isSendenseError } from '../errors.js';
import { openAppliance } from '../files/appliance.js';
import { extractPaths } from '../files/extract.js';
import { checkExtractTarget, parseExtractTarget } from '../files/extract-target.js';
import { readDiskLayout } from '../files/filesystems.js';
import { GuestFiles } from '../files/guest-files.js';
import { parseGuestPath } from '../files/guest-path.js';
import { formatBytes } from '../format/bytes.js';

export const extractFiles: Step<FilesRestoreRun> = {
  name: 'extract-files',
  title: (run) => `extract ${run.plan.restore.target.paths.join(', ')} into ${run.plan.restore.target.to}`,
  async run(run) {
    const { target } = run.plan.restore;
    const point = run.state.point!;
    const to = parseExtractTarget(target.to);
    const wanted = target.paths.map((text) => parseGuestPath(text));
    const info = (message: string) => run.reporter.emit({ type: 'info', message, step: 'extract-files' });
    try {
      // Refused before the appliance starts (half a minute under software emulation).
      checkExtractTarget(to, target.overwrite);
      const { agent } = await openAppliance(point.disk.file, { note: info });
      const stopAgent = async () => {
        await agent.close();
        await run.store.forgetProcess(agent.pid);
      };
      await run.store.recordProcess(run.runId, agent.pid, 'libguestfs', ['perl', 'guestfs-agent.pl', point.disk.file]);
      run.undo.push({ what: `stop the libguestfs appliance (agent pid ${agent.pid})`, when: 'always', step: 'extract-files', run: stopAgent });
      const onAbort = () => agent.kill();
      run.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const files = new GuestFiles(agent, await readDiskLayout(agent), point.where);
        const result = await extractPaths(files, wanted, to, { overwrite: target.overwrite, progress: info });
        return `${result.paths.length} path(s), ${formatBytes(result.bytes)}, into ${to.path}`;
      } finally {
        run.signal.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      if (run.signal.aborted) throw new SendenseError('interrupted', { step: 'extract-files', exitCode: 130, cause: error });
      if (isSendenseError(error) && error.step === undefined) throw new SendenseError(error.message, { step: 'extract-files', exitCode: error.exitCode, cause: error.cause });
      throw error;
    }
  },
};
