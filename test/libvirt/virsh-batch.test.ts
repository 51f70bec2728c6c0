// Questions to libvirt asked together (Virsh.attemptAll, docs/how-it-works.md#libvirt-domains): one
// virsh process, one connection to libvirtd, for what resolve-chain and snapshot-source ask; each
// answer exactly as the question asked alone would get, and a question that fails gets its own
// exit status and libvirt's own message. Real virsh and libvirtd; the exec counts the processes.

import { beforeAll, describe, expect, it } from 'vitest';
import { virshOn } from '../../src/libvirt/virsh.js';
import type { NodeExec } from '../../src/libvirt/virsh.js';
import { createLocalNode } from '../../src/node/local.js';
import { ensureLibvirtd } from '../support/libvirt-guest.js';

const node = createLocalNode();
const URI = 'qemu:///system';

// virsh on this host, counting the processes it starts.
function countingVirsh() {
  const started: string[][] = [];
  const exec: NodeExec = Object.assign(
    (argv: readonly string[], options?: Parameters<NodeExec>[1]) => {
      started.push([...argv]);
      return node.exec(argv, options);
    },
    { concurrent: true },
  );
  return { virsh: virshOn(exec, URI), started };
}

// A name with what virsh's own command-line parser would otherwise split or read as quoting.
const ODD_NAME = `no such domain 'x'; list --all "y" \\ z`;

beforeAll(() => ensureLibvirtd(), 120_000);

describe('questions to libvirt asked together', () => {
  it('are asked by one virsh process, each answered as alone', async () => {
    // Not the list of domains: other test files define and remove theirs between the two asks.
    const questions = [['version', '--daemon'], ['uri'], ['hostname'], ['echo', ODD_NAME]];
    const { virsh, started } = countingVirsh();
    const together = await virsh.attemptAll(questions);
    expect(started).toHaveLength(1);
    const alone = await Promise.all(questions.map((question) => virsh.attempt(question)));
    expect(together).toEqual(alone);
    // Quoted for virsh as one word: the odd name comes back whole.
    expect(together[3]!.stdout).toBe(ODD_NAME);
  }, 60_000);

  it('give a failed question its own exit status and message, the others their answers', async () => {
    const questions = [['uri'], ['domstate', ODD_NAME], ['hostname']];
    const { virsh } = countingVirsh();
    const together = await virsh.attemptAll(questions);
    const alone = await Promise.all(questions.map((question) => virsh.attempt(question)));
    expect(together).toEqual(alone);
    expect(together[1]!.exitCode).not.toBe(0);
    expect(together[1]!.stderr).toContain(`failed to get domain '${ODD_NAME}'`);
    expect(together[0]!.stdout.trim()).toBe(URI);
  }, 60_000);
});
