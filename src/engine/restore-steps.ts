// The steps of a restore run, in SPEC section 4 order (cleanup is the engine's undo loop).

import type { FilesRestoreRun, RestoreRun } from './run-context.js';
import type { Step } from './step.js';
import { allocatePorts } from '../steps/allocate-ports.js';
import { extractFiles } from '../steps/extract-files.js';
import { openTunnel } from '../steps/open-tunnel.js';
import { placeTarget } from '../steps/place-target.js';
import { prepareTarget } from '../steps/prepare-target.js';
import { resolveFilesPoint } from '../steps/resolve-files-point.js';
import { resolvePoint } from '../steps/resolve-point.js';
import { restoreTransfer } from '../steps/restore-transfer.js';
import { startQemuNbdServers } from '../steps/start-qemu-nbd.js';
import { verify } from '../steps/verify.js';

export const restoreSteps: readonly Step<RestoreRun>[] = [
  resolvePoint,
  allocatePorts,
  startQemuNbdServers,
  openTunnel,
  prepareTarget,
  restoreTransfer,
  verify,
  placeTarget,
];

// A file-level restore (target type files): no NBD, no tunnel; one appliance on this host.
export const filesRestoreSteps: readonly Step<FilesRestoreRun>[] = [resolveFilesPoint, extractFiles];
