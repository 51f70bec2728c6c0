// The real node transfer, installed on the node (over SFTP, or over exec channels where the node's
// sshd has no SFTP subsystem) and run there through the SSH node, pushing a disk through the
// tunnel into the hub's qemu-nbd: the copy is exact. A rate written to its stdin over the channel
// reaches it (docs/bandwidth.md).

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { NodeHost } from '../../src/node/node.js';
import { findPackageRoot } from '../../src/node/package-root.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { formatControlLine } from '../../src/wire/index.js';
import { freePort } from '../support/free-port.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const bundle = join(findPackageRoot(), 'runners', 'dist', 'sendense-transfer.mjs');
const missing = existsSync(bundle) ? undefined : `${bundle} is not built (npm run build)`;
if (missing) console.warn(`skipping the node transfer over SSH: ${missing}`);

let sshd: TestSshd | undefined;
let work: string;
let node: NodeHost | undefined;
let qemuNbd: ResultPromise | undefined;
let installedDir: string | undefined;

beforeAll(async () => {
  if (missing) return;
  work = await mkdtemp(join(tmpdir(), 'sendense-ssh-transfer-'));
}, 30_000);

afterEach(async () => {
  await node?.close();
  node = undefined;
  qemuNbd?.kill('SIGTERM');
  await qemuNbd?.catch(() => undefined);
  qemuNbd = undefined;
  await sshd?.stop();
  sshd = undefined;
  if (installedDir) await rm(installedDir, { recursive: true, force: true });
  installedDir = undefined;
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it.skipIf(missing !== undefined)(
  'a full copy through the tunnel equals the source',
  async () => {
    sshd = await startSshd();
    await copyThroughTheNode(sshd);
  },
  60_000,
);

it.skipIf(missing !== undefined)(
  'a node whose sshd has no SFTP subsystem gets the transfer over exec channels, and the copy is exact',
  async () => {
    sshd = await startSshd({ sftp: false });
    await copyThroughTheNode(sshd);
  },
  60_000,
);

it.skipIf(missing !== undefined)(
  'a rate changed on the running transfer through the SSH channel: the same process lifts it, the copy is exact',
  async () => {
    sshd = await startSshd();
    const { lines } = await copyThroughTheNode(sshd, true);
    const rates = lines.filter((line) => line.type === 'rate');
    // 11 MiB at the first rate would take three minutes, past this test's timeout: the lifted rate ends it.
    expect(rates.map((line) => line.bytesPerSecond)).toEqual([64 * 1024, null]);
    expect(rates[1]!.pid).toBe(rates[0]!.pid);
  },
  60_000,
);

async function copyThroughTheNode(
  sshd: TestSshd,
  liftRate = false,
): Promise<{ lines: { type: string; [fact: string]: unknown }[]; seconds: number }> {
  const source = join(work, `source-${randomBytes(4).toString('hex')}.qcow2`);
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', source, '256M']);
  await execa('qemu-io', ['-c', 'write -P 0x11 0 8M', '-c', 'write -P 0x22 100M 3M', '-c', 'write -z 120M 1M', source]);
  const target = `${source}.target.qcow2`;
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', target, '256M']);
  const hubPort = await freePort();
  qemuNbd = execa(
    'qemu-nbd',
    ['-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(hubPort), '-x', 'disk', target],
    { reject: false },
  );
  for (let tries = 0; tries < 100; tries += 1) {
    if ((await execa('nbdinfo', ['--size', `nbd://127.0.0.1:${hubPort}/disk`], { reject: false })).exitCode === 0)
      break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  // A copy of the bundle with its own content hash, so this test owns its install directory.
  const ownBundle = join(work, 'sendense-transfer.mjs');
  await writeFile(ownBundle, `${await readFile(bundle, 'utf8')}\n// test ${randomBytes(6).toString('hex')}\n`);
  node = await connectSshNode(
    { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
    { agent: false, transferBundle: ownBundle },
  );
  const command = await node.transferCommand();
  installedDir = dirname(command[1]);
  const forwards = await node.forwardPorts([hubPort]);
  const nodePort = forwards.nodePorts.get(hubPort)!;
  const started = performance.now();
  const rate = liftRate ? ['--rate', String(64 * 1024)] : [];
  const transfer = node.spawn([
    ...command,
    '--nbd-targets',
    `2000:nbd://127.0.0.1:${nodePort}/disk`,
    '--source',
    `2000=qemu:${source}`,
    ...rate,
  ]);
  // Written before the channel is open: it follows the environment on the program's stdin.
  if (liftRate) transfer.write!(formatControlLine({ rate: null }));
  const lines: string[] = [];
  transfer.onStdoutLine((line) => lines.push(line));
  const status = await transfer.exited;
  const seconds = (performance.now() - started) / 1000;
  expect(status, transfer.stderrText()).toEqual({ exitCode: 0, signal: null });
  const result = lines
    .map((line) => JSON.parse(line) as { type: string; ok?: boolean })
    .find((event) => event.type === 'result');
  expect(result?.ok).toBe(true);
  await forwards.close();
  qemuNbd.kill('SIGTERM');
  await qemuNbd;
  qemuNbd = undefined;
  await execa('qemu-img', ['compare', '-q', source, target]);
  return { lines: lines.map((line) => JSON.parse(line) as { type: string }), seconds };
}
