// The SSH tunnel: the same nbdcopy of a qcow2 with 2 GiB of data into the hub's qemu-nbd,
// through our ssh2 remote forward (src/node/ssh.ts) and through OpenSSH `ssh -R` (the same
// direction: the node's sshd listens, the hub's client connects to qemu-nbd), both with
// aes128-gcm, against a throw-away sshd on 127.0.0.1. Warm-up, alternating runs, medians.
// BENCH_RUNS=N (default 3), BENCH_GIB=N of data (default 2), BENCH_TMPDIR (default /var/tmp).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { openSshRemoteForward, startSshd } from './support/sshd.js';
import { makeSourceImage } from './support/source-image.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 2);
const dir = scratchDir('sendense-bench-ssh-');
const cleanups = [];

// Our SSH node code, bundled next to node_modules (bench/out is git-ignored) so ssh2 resolves.
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const bundled = await bundle(join(root, 'src/node/ssh.ts'), join(root, 'bench', 'out', 'ssh-node.mjs'), {
  packages: 'external',
});
const { connectSshNode } = await import(bundled);

// Source: 2 GiB of random data in 8 MiB regions, each followed by an 8 MiB hole.
const source = join(dir, 'source.qcow2');
const virtualSize = makeSourceImage(source, { regions: DATA_GIB * 128 });

const sshd = await startSshd(dir);
cleanups.push(() => sshd.stop());
const sshdPort = sshd.port;

// The hub's side: qemu-nbd on a fresh qcow2, 127.0.0.1, --shared=10, as the run starts it.
async function startTarget() {
  const file = freshQcow2(join(dir, 'target.qcow2'), { size: virtualSize });
  return { ...(await startQemuNbdTarget(file)), file };
}

// nbdcopy on the "node": its own read-only qemu-nbd on the source, into the tunnelled target.
const timedCopy = async (nodePort) =>
  (
    await timedRun(
      [
        'nbdcopy',
        '--flush',
        '--',
        '[',
        'qemu-nbd',
        '-r',
        '-f',
        'qcow2',
        source,
        ']',
        `nbd://127.0.0.1:${nodePort}/target`,
      ],
      { stdin: 'ignore' },
    )
  ).seconds;

async function throughOurs() {
  const target = await startTarget();
  const node = await connectSshNode(
    {
      host: '127.0.0.1',
      port: sshdPort,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHosts: sshd.knownHosts,
    },
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
  const forward = await openSshRemoteForward(sshd, target.port);
  try {
    return { seconds: await timedCopy(forward.nodePort), file: target.file };
  } finally {
    await forward.stop();
    await target.stop();
  }
}

const dataMiB = DATA_GIB * 1024;
const tools = { ours: throughOurs, openssh: throughOpenssh };
const times = { ours: [], openssh: [] };
try {
  console.log(
    `nbdcopy of ${DATA_GIB} GiB of data through an SSH remote forward (aes128-gcm), ${RUNS} runs each after one warm-up each, alternating`,
  );
  await alternatingRounds(RUNS, Object.keys(tools), async (name, run) => {
    const { seconds, file } = await tools[name]();
    if (run < 0) return;
    times[name].push(seconds);
    console.log(`  ${name.padEnd(7)} ${seconds.toFixed(2)} s  ${(dataMiB / seconds).toFixed(0)} MiB/s`);
    if (run === RUNS - 1) execFileSync('qemu-img', ['compare', '-q', source, file]);
  });
  const ours = median(times.ours);
  const openssh = median(times.openssh);
  console.log(
    `median: ours ${ours.toFixed(2)} s (${(dataMiB / ours).toFixed(0)} MiB/s), OpenSSH ${openssh.toFixed(2)} s (${(dataMiB / openssh).toFixed(0)} MiB/s): ` +
      `ours at ${(openssh / ours).toFixed(2)}x OpenSSH's throughput (aim >= 0.95x); last copies verified with qemu-img compare`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
