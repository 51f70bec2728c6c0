// A remote node for end-to-end SSH tests: a real sshd in a network namespace of the test's own
// (so hub and node are two hosts and exact ports get forwarded), or on 127.0.0.1 where namespaces
// are not allowed; plans with its `node:` block; and the node-side processes of a temp dir.

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { stringify } from 'yaml';
import { createNetns, type TestNetns } from '../support/netns.js';
import { NotedProcesses, identify, killIfAlive } from '../support/processes.js';
import { commandLine, descendantPids, recordedProcesses } from '../support/process-tree.js';
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

export interface SshWorkspace {
  /** One node (sshd) for the whole test file. */
  readonly node: TestNode;
  /** Per test: temp dir holding the VM disks, the state database and the repository. */
  readonly dir: string;
  readonly db: string;
  readonly repository: string;
  /** PIDs a test saw its run start; stopped after the test if an assertion left them. */
  readonly seenPids: NotedProcesses;
  /** Files in the repository, relative, sorted. */
  repositoryFiles(): string[];
}

// Registers the file's hooks: a node per file, a fresh temp dir per test, and after each test
// everything that mentions that dir (hub qemu-nbd, node transfer, node qemu-nbd) stopped by PID.
export function useSshWorkspace(prefix: string): SshWorkspace {
  let node: TestNode | undefined;
  let dir = '';
  const seenPids = new NotedProcesses();
  beforeAll(async () => {
    node = await startTestNode();
  }, 30_000);
  afterAll(async () => {
    await node?.stop();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
  });
  afterEach(() => {
    const db = path.join(dir, 'state.db');
    if (existsSync(db)) for (const record of recordedProcesses(db)) seenPids.addKnown(record);
    seenPids.killAll();
    for (const pid of processesMentioning(dir)) killIfAlive(identify(pid));
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get node() {
      if (!node) throw new Error('the test node is not started');
      return node;
    },
    get dir() {
      return dir;
    },
    get db() {
      return path.join(dir, 'state.db');
    },
    get repository() {
      return path.join(dir, 'repository');
    },
    seenPids,
    repositoryFiles: () => {
      const repository = path.join(dir, 'repository');
      if (!existsSync(repository)) return [];
      return readdirSync(repository, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(repository, path.join(entry.parentPath, entry.name)))
        .sort();
    },
  };
}

export interface NodeBlock {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identityFile: string;
  readonly knownHosts: string;
}

export function nodeBlock(node: TestNode, knownHosts: string = node.sshd.knownHosts): NodeBlock {
  return {
    host: node.host,
    port: node.sshd.port,
    user: node.sshd.user,
    identityFile: node.sshd.identityFile,
    knownHosts,
  };
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
