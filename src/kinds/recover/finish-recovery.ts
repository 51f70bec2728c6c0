// How a recovery ends, whatever brought the run there (the move, a domain left on the point, or
// cleanup after a failure or a signal): the domain is never stopped or undefined by us, so the
// served point stays up while a running domain reads it; once it does not (moved, shut off and
// copied, or undefined), the overlays go and so does doctor's record (docs/instant-recovery.md).

import { formatBytes } from '../../format/bytes.js';
import {
  abandonCopies,
  domainUse,
  moveWhileRunning,
  moveWhileShutOff,
  type MoveContext,
} from '../../libvirt/move-storage.js';
import { removeScratchDir } from '../../libvirt/scratch-dir.js';
import { crashPoint } from '../../crash-points.js';
import { recoveredImages, RECOVERY_RESOURCE, type RecoverRun } from './recover-run.js';

const POLL_MS = 2000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Finished {
  /** What happened, for the step's summary. */
  readonly summary: string;
  /** Why the move failed, if it did (the run fails once the domain no longer reads the point). */
  readonly failure?: Error;
}

// live: copy a running domain's disks now (moveStorage); otherwise serve until it is shut off, then copy.
export async function finishRecovery(run: RecoverRun, step: string, live: boolean): Promise<Finished> {
  const { domain } = run.plan.recover.to;
  const sizes = new Map<number, number>();
  const context = moveContext(run, step, sizes);
  const started = Date.now();
  let failure: Error | undefined;
  let use = await domainUse(run.virsh, domain, context.disks);
  if (use.exists && use.onOverlays.length > 0 && use.active && live) {
    try {
      const how = await moveWhileRunning(context);
      await release(run);
      const bytes = [...sizes.values()].reduce((sum, size) => sum + size, 0);
      const seconds = (Date.now() - started) / 1000;
      const pace = seconds > 0 ? `, ${formatBytes(Math.round(bytes / seconds))}/s` : '';
      return {
        summary: `${how === 'pivoted' ? 'copied while running and switched over' : 'copied once it was shut off'}: ${formatBytes(bytes)} in ${seconds.toFixed(1)} s${pace}`,
      };
    } catch (error) {
      failure = error as Error;
      // The disks stay on their overlays: the point is served for as long as the domain reads it.
      await abandonCopies(run.virsh, domain, context.disks).catch(() => undefined);
      run.reporter.emit({ type: 'warning', step, message: `the move failed: ${failure.message}` });
    }
  }
  use = await waitWhileRunningOnPoint(run, step, failure ? 'the move failed' : 'moveStorage is false');
  if (use.exists && use.onOverlays.length > 0) {
    await moveWhileShutOff(context);
    await release(run);
    return {
      summary: `${domain} was shut off: its disks were copied to ${run.plan.recover.to.storage} and it is defined on them`,
      failure,
    };
  }
  await release(run);
  return {
    summary: use.exists
      ? `${domain} no longer reads the served point`
      : `${domain} does not exist: nothing reads the served point`,
    failure,
  };
}

// Polls while the domain runs on its overlays; says once why it is still served, and again on a signal.
async function waitWhileRunningOnPoint(run: RecoverRun, step: string, why: string) {
  const { domain } = run.plan.recover.to;
  const say = () =>
    run.reporter.emit({
      type: 'warning',
      step,
      message: `${why}: domain ${domain} runs from the served point, so it stays served until the domain is shut off (virsh shutdown ${domain}) or its disks are moved`,
    });
  run.signal.addEventListener('abort', say, { once: true });
  try {
    let said = false;
    for (;;) {
      const use = await domainUse(run.virsh, domain, recoveredImages(run));
      if (!use.exists || use.onOverlays.length === 0 || !use.active) return use;
      if (!said) say();
      said = true;
      await sleep(POLL_MS);
    }
  } finally {
    run.signal.removeEventListener('abort', say);
  }
}

// The move's node, domain and disks; progress events as libvirt reports the copy.
function moveContext(run: RecoverRun, step: string, sizes: Map<number, number>): MoveContext {
  return {
    virsh: run.virsh,
    exec: (argv, options) => run.node.exec(argv, options),
    domain: run.plan.recover.to.domain,
    disks: recoveredImages(run),
    progress: (key, bytesDone, bytesToDo) => {
      sizes.set(key, bytesToDo);
      run.reporter.emit({ type: 'progress', disk: key, bytesDone, bytesToDo });
    },
    note: (line) => run.reporter.emit({ type: 'info', step, message: line }),
    // The rate when the move starts (libvirt's copy takes it once; a window boundary later does not change it).
    rate: run.bandwidth?.now().bytesPerSecond,
    reached: (phase) => crashPoint(`recover.${phase}`),
  };
}

// Nothing reads the overlays any more: they go, and so does doctor's record of the recovery.
async function release(run: RecoverRun): Promise<void> {
  run.state.released = true;
  // Defined on its storage (start: false): failure-only undo never undefines it now.
  run.undo.commit();
  await removeScratchDir((argv, options) => run.node.exec(argv, options), run.state.overlayDir);
  await run.store.forgetNodeResource(run.node.id, RECOVERY_RESOURCE, run.plan.recover.to.domain);
}
