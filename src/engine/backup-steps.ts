// The steps of a backup or incremental run, in SPEC section 4 order (cleanup is the engine's
// undo loop; retention runs after a successful run).

import type { BackupRun } from './run-context.js';
import type { Step } from './step.js';
import { allocatePorts } from '../steps/allocate-ports.js';
import { createQcow2Files } from '../steps/create-qcow2.js';
import { openTunnel } from '../steps/open-tunnel.js';
import { recordChangeIds } from '../steps/record-change-ids.js';
import { resolveChain } from '../steps/resolve-chain.js';
import { snapshotSource } from '../steps/snapshot-source.js';
import { startQemuNbdServers } from '../steps/start-qemu-nbd.js';
import { transfer } from '../steps/transfer.js';

export const backupSteps: readonly Step<BackupRun>[] = [
  resolveChain,
  allocatePorts,
  createQcow2Files,
  startQemuNbdServers,
  openTunnel,
  snapshotSource,
  transfer,
  recordChangeIds,
];
