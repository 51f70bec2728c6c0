// Quiescing through qemu-guest-agent (docs/how-it-works.md#libvirt-domains): the guest's filesystems
// frozen for the instant of the checkpoint, thawed right after, on every path.

import { SendenseError } from '../errors.js';
import { virshMessage, type Virsh } from './virsh.js';

/** How long an agent may take to answer a ping before the backup goes on without it. */
export const AGENT_TIMEOUT_S = 5;

// Null when it answers; otherwise why not, in libvirt's words.
export async function agentSilence(virsh: Virsh, domain: string): Promise<string | null> {
  const result = await virsh.attempt([
    'qemu-agent-command',
    domain,
    '{"execute":"guest-ping"}',
    '--timeout',
    String(AGENT_TIMEOUT_S),
  ]);
  return result.exitCode === 0 ? null : virshMessage(result);
}

// Returns the number of filesystems frozen.
export async function freezeGuest(virsh: Virsh, domain: string): Promise<number> {
  const out = await virsh.run(['domfsfreeze', domain], `freeze the filesystems of ${domain}`, { quiet: false });
  return Number(/(\d+)/.exec(out)?.[1] ?? 0);
}

// Thawing must not fail on a passing hiccup: a guest left frozen is the worst outcome.
export async function thawGuest(virsh: Virsh, domain: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await virsh.attempt(['domfsthaw', domain]);
    if (result.exitCode === 0) return;
    last = virshMessage(result);
    // A domain no longer running has nothing frozen.
    if (/not running|domain is not running|shut off/i.test(last)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new SendenseError(`could not thaw the filesystems of ${domain}: ${last} (run: virsh domfsthaw ${domain})`);
}

/** "frozen" or "thawed", as the agent says; undefined when it does not answer. */
export async function freezeStatus(virsh: Virsh, domain: string): Promise<string | undefined> {
  const result = await virsh.attempt([
    'qemu-agent-command',
    domain,
    '{"execute":"guest-fsfreeze-status"}',
    '--timeout',
    String(AGENT_TIMEOUT_S),
  ]);
  if (result.exitCode !== 0) return undefined;
  return /"return"\s*:\s*"(\w+)"/.exec(result.stdout)?.[1];
}
