// After the SSH link drops, the node is still reachable for cleanup: the next command reconnects
// once, after stopping what the lost link left running there; a node that is gone is a quick error.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NodeHost } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { processesMentioning } from './ssh-node.js';

let sshd: TestSshd;
let work: string;
const nodes: NodeHost[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  work = await mkdtemp(join(tmpdir(), 'ssh-reconnect-'));
}, 30_000);
afterAll(async () => {
  for (const node of nodes) await node.close();
  for (const pid of processesMentioning(work)) killIfAlive(identify(pid));
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
});

async function connect(): Promise<NodeHost> {
  const node = await connectSshNode(
    { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
    { agent: false },
  );
  nodes.push(node);
  return node;
}

it('a program that ignores its closed stdin is stopped when the next command reconnects, then the command runs', async () => {
  const node = await connect();
  const marker = join(work, 'stubborn');
  // Unlike the node transfer, this one keeps running when its channel goes away.
  const child = node.spawn([
    'node',
    '-e',
    "console.log('ready'); process.stdin.resume(); setTimeout(() => {}, 60000)",
    marker,
  ]);
  await new Promise<void>((resolve) => child.onStdoutLine(() => resolve()));
  const pid = child.pid!;
  expect(pid).toBeGreaterThan(0);

  await sshd.killSessions();
  expect(await child.exited).toEqual({ exitCode: null, signal: null });
  expect(await waitForProcessGone(pid, 500)).toBe(false);

  const result = await node.exec(['echo', 'back']);
  expect(result.stdout).toBe('back\n');
  expect(await waitForProcessGone(pid), `pid ${pid} left running on the node`).toBe(true);
});

it('a node that is gone after the loss: the command fails at once, saying the link was lost', async () => {
  const other = await startSshd();
  const node = await connectSshNode(
    {
      host: other.host,
      port: other.port,
      user: other.user,
      identityFile: other.identityFile,
      knownHosts: other.knownHosts,
    },
    { agent: false },
  );
  nodes.push(node);
  try {
    // The node goes away entirely: its sessions, then its listener.
    await other.killSessions();
    process.kill(other.pid, 'SIGKILL');
    expect(await waitForProcessGone(other.pid)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await expectQuickFailure(node);
  } finally {
    await other.stop();
  }
});

async function expectQuickFailure(node: NodeHost): Promise<void> {
  await expect(node.exec(['true'])).rejects.toThrow(/connection lost.*reconnecting failed: .*connection refused/);
  // It does not try again for every cleanup command: the same error, not a new attempt's.
  const first = await node.exec(['true']).catch((caught: unknown) => caught);
  const again = await node.exec(['true']).catch((caught: unknown) => caught);
  expect(first).toBeInstanceOf(Error);
  expect((first as Error).message).toMatch(/reconnecting failed/);
  expect(again).toBe(first);
}
