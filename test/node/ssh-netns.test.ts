// The node in a network namespace of the test's own: hub and node are two hosts as far as TCP
// goes, so the exact leased ports can be forwarded and a pulled cable can be simulated.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { NodeHost } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { createNetns, type TestNetns } from '../support/netns.js';
import { freePort } from '../support/free-port.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const netns = await createNetns();
const skipReason = typeof netns === 'string' ? netns : undefined;
if (skipReason) console.warn(`skipping network-namespace tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('ssh node in a network namespace', () => {
  const ns = netns as TestNetns;
  let sshd: TestSshd;
  let work: string;
  let image: string;
  const servers: ResultPromise[] = [];
  const nodes: NodeHost[] = [];

  beforeAll(async () => {
    sshd = await startSshd({ netns: ns.name, address: ns.nodeAddress });
    work = await mkdtemp(join(tmpdir(), 'sendense-netns-test-'));
    image = join(work, 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '32M']);
    await execa('qemu-io', ['-c', 'write -P 0x33 0 3M', image]);
  }, 30_000);

  afterAll(async () => {
    for (const node of nodes) await node.close();
    for (const server of servers) {
      server.kill('SIGKILL');
      await server.catch(() => undefined);
    }
    await sshd?.stop();
    await ns.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function connect(options = {}): Promise<NodeHost> {
    const node = await connectSshNode(
      {
        host: ns.nodeAddress,
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        knownHosts: sshd.knownHosts,
      },
      { agent: false, ...options },
    );
    nodes.push(node);
    return node;
  }

  // A qemu-nbd on the hub, bound to 127.0.0.1 like the real run's.
  async function hubQemuNbd(): Promise<number> {
    const port = await freePort();
    const server = execa(
      'qemu-nbd',
      ['-f', 'qcow2', '-b', '127.0.0.1', '-p', String(port), '-x', 'disk', '-t', '--shared=4', '-r', image],
      {
        reject: false,
      },
    );
    servers.push(server);
    for (let tries = 0; tries < 100; tries += 1) {
      if ((await execa('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/disk`], { reject: false })).exitCode === 0)
        return port;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('qemu-nbd did not start');
  }

  it('forwards the exact leased port, and another one when the node already uses it', async () => {
    const [free, busy] = [await hubQemuNbd(), await hubQemuNbd()];
    // Something on the node already listens on `busy`.
    const squatter = execa(
      'ip',
      ['netns', 'exec', ns.name, 'node', '-e', `require('net').createServer().listen(${busy}, '127.0.0.1')`],
      {
        reject: false,
      },
    );
    servers.push(squatter);
    for (let tries = 0; tries < 100; tries += 1) {
      const ss = await execa('ip', ['netns', 'exec', ns.name, 'ss', '-Hltn', `sport = :${busy}`], { reject: false });
      if (ss.stdout.trim() !== '') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const node = await connect();
    const forwards = await node.forwardPorts([free, busy]);
    expect(forwards.nodePorts.get(free)).toBe(free);
    expect(forwards.nodePorts.get(busy)).not.toBe(busy);
    await execa('qemu-img', ['convert', '-O', 'raw', image, join(work, 'disk.raw')]);
    const expected = (await execa('sha256sum', [join(work, 'disk.raw')])).stdout.split(' ')[0];
    for (const nodePort of forwards.nodePorts.values()) {
      const copy = await node.exec(['sh', '-c', `nbdcopy nbd://127.0.0.1:${nodePort}/disk - | sha256sum`]);
      expect(copy.stdout.split(' ')[0]).toBe(expected);
    }
    await forwards.close();
    const closed = await node.exec(['nbdinfo', '--size', `nbd://127.0.0.1:${free}/disk`]);
    expect(closed.exitCode).not.toBe(0);
  });

  it('notices a silently dead link by keepalive', async () => {
    const node = await connect({ keepaliveIntervalMs: 1000, keepaliveCountMax: 2 });
    const child = node.spawn(['sh', '-c', 'echo ready; cat >/dev/null']);
    await new Promise<void>((resolve) => child.onStdoutLine(() => resolve()));
    // Neither command ends on its own (and TCP alone would notice in minutes): only keepalive ends them.
    const running = node.exec(['sleep', '3600']);
    running.catch(() => undefined);
    await ns.cut();
    expect(await child.exited).toEqual({ exitCode: null, signal: null });
    await expect(running).rejects.toThrow(
      `${sshd.user}@${ns.nodeAddress}:${sshd.port}: connection lost (keepalive timeout)`,
    );
    expect(child.stderrText()).toContain('keepalive timeout');
  }, 20_000);
});
