// A failover test's domain on the replica node (docs/replication.md#testing-a-failover): transient
// (virsh create), named <replica.domain>-test, on throwaway overlays. Recorded as a node resource
// of its run before it exists, so doctor ends the test of a killed run with the same give-back.

import { SendenseError } from '../errors.js';
import { virshMessage, virshOn, type NodeExec } from '../libvirt/virsh.js';
import type { NodeHost } from '../node/node.js';
import { removeLayers } from '../replica/replica-files.js';

/** Its kind in node_resources; name: the test domain, facts: TestDomainFacts. */
export const TEST_DOMAIN_RESOURCE = 'test-domain';

export interface TestDomainFacts {
  readonly domain: string;
  readonly uri: string;
  readonly overlays: readonly string[];
}

export function testDomainName(replicaDomain: string): string {
  return `${replicaDomain}-test`;
}

// Destroyed (a transient domain is then gone; one already gone is fine), its overlays removed.
export async function endTestDomain(exec: NodeExec, facts: TestDomainFacts): Promise<void> {
  const virsh = virshOn(exec, facts.uri);
  const destroyed = await virsh.attempt(['destroy', facts.domain]);
  if (destroyed.exitCode !== 0 && (await virsh.attempt(['domstate', facts.domain])).exitCode === 0) {
    throw new SendenseError(`cannot destroy the test domain ${facts.domain}: ${virshMessage(destroyed)}`);
  }
  await removeLayers(exec, facts.overlays);
}

// On the node, until the domain is gone or shut off (exit 0); its stdin kept on fd 3 is its
// lifeline: our end closing (stopped, or the hub gone) ends it. Terminal signals are ours, not its.
const WATCH = [
  "trap '' INT HUP",
  'exec 3<&0',
  '(cat <&3 >/dev/null 2>&1; kill $$ 2>/dev/null) </dev/null >/dev/null 2>&1 &',
  'w=$!',
  'exec 3<&-',
  "trap 'kill $w 2>/dev/null' EXIT",
  'while s=$(virsh --quiet -c "$1" domstate "$2" 2>/dev/null); do case "$s" in "shut off"*|crashed*) break ;; esac; sleep 1; done',
  'exit 0',
].join('\n');

export interface DomainWatch {
  /** 'gone' once the domain is shut off or gone; else why the watch ended (the SSH link lost). */
  readonly ended: Promise<'gone' | SendenseError>;
  stop(): Promise<void>;
}

export function watchDomain(node: NodeHost, uri: string, domain: string): DomainWatch {
  const watcher = node.spawn(['sh', '-c', WATCH, 'sendense-watch', uri, domain]);
  let stopping = false;
  const ended = watcher.exited.then((exit): 'gone' | SendenseError => {
    if (exit.exitCode === 0 || stopping) return 'gone';
    const said = watcher.stderrText().trim().split('\n').at(-1) ?? '';
    if (node.isLocal)
      return new SendenseError(`the watch of ${domain} ended (${said || `exit ${exit.exitCode ?? exit.signal}`})`);
    return new SendenseError(`the SSH connection to the replica node is gone (${said || node.description})`);
  });
  return {
    ended,
    stop: async () => {
      stopping = true;
      await watcher.stop();
    },
  };
}
