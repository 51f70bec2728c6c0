// The SSH tunnel: the same nbdcopy of a qcow2 with 2 GiB of data into the hub's qemu-nbd,
// through our ssh2 remote forward (src/node/ssh.ts) and through OpenSSH `ssh -R` (the same
// direction: the node's sshd listens, the hub's client connects to qemu-nbd), both with
// aes128-gcm, against a throw-away sshd on 127.0.0.1. Warm-up, alternating runs, medians.
// BENCH_RUNS=N (default 3), BENCH_GIB=N of data (default 2), BENCH_TMPDIR (default /var/tmp).
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 2);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-ssh-'));
const children = new Set();
const cleanups = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

// Our SSH node code, bundled next to node_modules (bench/out is git-ignored) so ssh2 resolves.
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const bundled = join(root, 'bench', 'out', 'ssh-node.mjs');
await build({ entryPoints: [join(root, 'src/node/ssh.ts')], outfile: bundled, bundle: true, packages: 'external', platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' });
const { connectSshNode } = await import(bundled);

// Source: 2 GiB of random data in 8 MiB regions, each followed by an 8 MiB hole.
const source = join(dir, 'source.qcow2');
{
  const raw = join(dir, 'source.raw');
  const regions = DATA_GIB * 128;
  const fd = openSync(raw, 'w');
  for (let region = 0; region < regions; region++) writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, region * 16 * MiB);
  closeSync(fd);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, source]);
  rmSync(raw);
}
const virtualSize = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', source], { encoding: 'utf8' }))['virtual-size'];

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port) {
  for (let tries = 0; tries < 200; tries++) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

function start(argv, options = {}) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  return {
    child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
        children.delete(child);
      }),
  };
}

// A throw-away sshd: its own keys, authorized_keys and config, 127.0.0.1 only.
mkdirSync('/run/sshd', { recursive: true });
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
const sshdPort = await freePort();
writeFileSync(
  join(dir, 'sshd_config'),
  [`ListenAddress 127.0.0.1`, `Port ${sshdPort}`, `HostKey ${join(dir, 'host_key')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no', 'PasswordAuthentication no', 'PermitRootLogin prohibit-password', 'UsePAM no', `PidFile ${join(dir, 'sshd.pid')}`,
    'AllowTcpForwarding yes', 'Ciphers aes128-gcm@openssh.com', ''].join('\n'),
);
const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
const knownHosts = join(dir, 'known_hosts');
writeFileSync(knownHosts, `[127.0.0.1]:${sshdPort} ${hostKey}\n`);
const sshd = start(['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')]);
cleanups.push(() => sshd.stop());
await waitForPort(sshdPort);

// The hub's side: qemu-nbd on a fresh qcow2, 127.0.0.1, --shared=10, as the run starts it.
async function startTarget() {
  const file = join(dir, 'target.qcow2');
  rmSync(file, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(virtualSize)]);
  const port = await freePort();
  const target = start(['qemu-nbd', '-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(port), '-x', 'target', file]);
  await waitForPort(port);
  return { port, file, stop: target.stop };
}

// nbdcopy on the "node": its own read-only qemu-nbd on the source, into the tunnelled target.
function timedCopy(nodePort) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const copy = start(['nbdcopy', '--flush', '--', '[', 'qemu-nbd', '-r', '-f', 'qcow2', source, ']', `nbd://127.0.0.1:${nodePort}/target`]);
    copy.child.once('close', (code) => {
      children.delete(copy.child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`nbdcopy exited ${code}: ${copy.stderr().slice(-2000)}`));
      else resolve(seconds);
    });
  });
}

async function throughOurs() {
  const target = await startTarget();
  const node = await connectSshNode(
    { host: '127.0.0.1', port: sshdPort, user: userInfo().username, identityFile: join(dir, 'id_ed25519'), knownHosts },
    { agent: false },
  );
  try {
    const forwards = await node.forwardPorts([target.port]);
    const seconds = await timedCopy(forwards.nodePorts.get(target.port));
    await forwards.close();
    return { seconds, file: target.file };
  } finally {
    await node.close();
    await target.stop();
  }
}

async function throughOpenssh() {
  const target = await startTarget();
  const nodePort = await freePort();
  const ssh = start([
    'ssh', '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes', '-c', 'aes128-gcm@openssh.com', '-i', join(dir, 'id_ed25519'), '-p', String(sshdPort),
    '-R', `127.0.0.1:${nodePort}:127.0.0.1:${target.port}`, `${userInfo().username}@127.0.0.1`,
  ]);
  try {
    await waitForPort(nodePort);
    return { seconds: await timedCopy(nodePort), file: target.file };
  } finally {
    await ssh.stop();
    await target.stop();
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const dataMiB = DATA_GIB * 1024;
const tools = { ours: throughOurs, openssh: throughOpenssh };
const times = { ours: [], openssh: [] };
try {
  console.log(`nbdcopy of ${DATA_GIB} GiB of data through an SSH remote forward (aes128-gcm), ${RUNS} runs each after one warm-up each, alternating`);
  for (const name of Object.keys(tools)) await tools[name]();
  for (let run = 0; run < RUNS; run++) {
    for (const name of Object.keys(tools)) {
      const { seconds, file } = await tools[name]();
      times[name].push(seconds);
      console.log(`  ${name.padEnd(7)} ${seconds.toFixed(2)} s  ${(dataMiB / seconds).toFixed(0)} MiB/s`);
      if (run === RUNS - 1) execFileSync('qemu-img', ['compare', '-q', source, file]);
    }
  }
  const ours = median(times.ours);
  const openssh = median(times.openssh);
  console.log(
    `median: ours ${ours.toFixed(2)} s (${(dataMiB / ours).toFixed(0)} MiB/s), OpenSSH ${openssh.toFixed(2)} s (${(dataMiB / openssh).toFixed(0)} MiB/s): ` +
      `ours at ${(openssh / ours).toFixed(2)}x OpenSSH's throughput (aim >= 0.95x); last copies verified with qemu-img compare`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
