// tcp (docs/drills.md#tcp): a port of the guest answers a connection made from the drill's
// namespace on its isolated bridge (never from the host), tried again until the check's timeout;
// the guest's panic or end fails it at once.

import { SendenseError } from '../../errors.js';
import { execOn } from '../../libvirt/virsh.js';
import { probeTcp } from '../../libvirt/drill-network.js';
import type { DrillCheck } from '../../plan/types.js';
import type { DrillRun } from './drill-run.js';
import { guestAlive } from './guest-checks.js';

const RETRY_MS = 1000;
// Each attempt is bounded: an address no one answers ARP for hangs the connection.
const ATTEMPT_SECONDS = 5;

export async function tcpCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'tcp' }>): Promise<string> {
  const { network } = run.state;
  if (network === undefined)
    throw new SendenseError("needs isolation.network: isolated (the probe runs on the drill's own bridge)");
  const started = Date.now();
  const until = started + check.timeout * 1000;
  const target = `${check.address}:${check.port}`;
  let last = 'not tried';
  for (;;) {
    run.signal.throwIfAborted();
    await guestAlive(run);
    const left = Math.ceil((until - Date.now()) / 1000);
    const why = await probeTcp(
      execOn(run.node),
      network.netns,
      check.address,
      check.port,
      Math.max(1, Math.min(ATTEMPT_SECONDS, left)),
    );
    if (why === undefined)
      return `${target} answered from the drill's namespace ${Math.round((Date.now() - started) / 100) / 10} s into the check`;
    last = why;
    if (Date.now() + RETRY_MS > until)
      throw new SendenseError(
        `${target} did not answer within ${check.timeout} s (from the drill's namespace: ${last})`,
      );
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}
