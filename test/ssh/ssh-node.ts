// A remote node for end-to-end SSH tests: a real sshd in a network namespace of the test's own
// (so hub and node are two hosts and exact ports get forwarded), or on 127.0.0.1 where namespaces
// are not allowed; plans with its `node:` block; and the node-side processes of a temp dir.

import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { createNetns, type TestNetns } from '../support/netns.js';
import { commandLine, descendantPids } from '../support/process-tree.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

export interface TestNode {
  readonly sshd: TestSshd;
  /** Where the hub connects: the namespace's address, or 127.0.0.1. */
  readonly host: string;
  /** Set when the node is a network namespace (false = the 127.0.0.1 fallback). */
  readonly netns?: TestNetns;
  stop(): Promise<void>;
}

export async function startTestNode(): Promise<TestNode> {
  const netns = await createNetns();
  if (typeof netns === 'string') {
    console.warn(`the SSH node runs on 127.0.0.1: ${netns}`);
    const sshd = await startSshd();
    return { sshd, host: sshd.host, stop: () => sshd.stop() };
  }
  try {
    const sshd = await startSshd({ netns: netns.name, address: netns.nodeAddress });
    return {
      sshd,
      host: netns.nodeAddress,
      netns,
      stop: async () => {
        await sshd.stop();
        await netns.remove();
      },
    };
  } catch (error) {
    await netns.remove();
    throw error;
  }
}

export interface NodeBlock {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identityFile: string;
  readonly knownHosts: string;
}

export function nodeBlock(node: TestNode, knownHosts: string = node.sshd.knownHosts): NodeBlock {
  return { host: node.host, port: node.sshd.port, user: node.sshd.user, identityFile: node.sshd.identityFile, knownHosts };
}

export interface SshBackupPlan {
  readonly name: string;
  readonly vm: string;
  readonly disks: readonly { readonly key: number; readonly path: string }[];
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly node: NodeBlock;
}

// An incremental plan (a full when there is no chain yet) through the node; returns its path.
export function writeSshBackupPlan(dir: string, plan: SshBackupPlan): string {
  return writeYaml(dir, plan.name, {
    version: 1,
    kind: 'incremental',
    name: plan.name,
    vm: { name: plan.vm, source: { type: 'qemu', disks: plan.disks.map((disk) => ({ ...disk })) } },
    node: { ...plan.node },
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
  });
}

export interface SshRestorePlan {
  readonly name: string;
  readonly vm: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly node: NodeBlock;
  readonly point: string;
  /** Target path on the node, with {key}. */
  readonly targetPath: string;
  readonly format: 'qcow2' | 'raw';
}

export function writeSshRestorePlan(dir: string, plan: SshRestorePlan): string {
  return writeYaml(dir, plan.name, {
    version: 1,
    kind: 'restore',
    name: plan.name,
    vm: { name: plan.vm },
    node: { ...plan.node },
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    restore: { point: plan.point, target: { type: 'file', path: plan.targetPath, format: plan.format }, verify: true },
  });
}

function writeYaml(dir: string, name: string, doc: object): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// Every process on this machine (hub and node share it) whose command line mentions `needle`.
export function processesMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .map(Number)
    .filter((pid) => commandLine(pid).some((arg) => arg.includes(needle)));
}

// Processes the node's sshd runs whose command line mentions `needle` (the test's temp dir):
// the node transfer and its own qemu-nbd, found by ancestry and argv, never by name.
export function nodeProcessesMentioning(node: TestNode, needle: string): number[] {
  return descendantPids(node.sshd.pid).filter((pid) => commandLine(pid).some((arg) => arg.includes(needle)));
}
