// A running libvirt domain: our libvirt source against virtnbdbackup (Debian's, the tool KVM shops
// run today) on the same kind of domain, side by side in one run: full and incremental wall time,
// bytes written, and the guest's own write latency while each backup runs (the guest times its
// synced writes). Each tool gets its own domain: virtnbdbackup refuses a domain that carries
// another tool's checkpoints. Ours also through an SSH node (a throw-away sshd on 127.0.0.1).
// BENCH_FULLS=N fulls each (default 3: alternating, each into a new repository, the last one the
// base of the incrementals), BENCH_ROUNDS=N incrementals each (default 3), BENCH_PREFILL_MIB=N per
// disk (default 300). BENCH_BEFORE=DIR: the CLI of another built checkout runs beside ours (this
// host and the SSH node), into repositories of its own, alternating; BENCH_PEER=0 leaves out
// virtnbdbackup. Each round also times the floor the shared tools set (bare virsh calls of a
// frozen pull-mode job, and the runtimes' starts: ./support/live-floor.js).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cli, requireBuild, root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { liveFloor, timedCall } from './support/live-floor.js';
import { scratchDir } from './support/scratch.js';
import { startSshd } from './support/sshd.js';
import { median } from './support/stats.js';
import { stepTimes } from './support/step-times.js';
import { timedRun } from './support/timed-run.js';

requireBuild('libvirt');
const PEER = process.env.BENCH_PEER !== '0';
const BEFORE = process.env.BENCH_BEFORE;
const beforeCli = BEFORE === undefined ? undefined : join(BEFORE, 'bin', 'sendense-run.js');
if (PEER && spawnSync('virtnbdbackup', ['--version']).status !== 0) {
  console.log('installing virtnbdbackup (the peer)');
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'virtnbdbackup'], { stdio: 'inherit' });
}
const FULLS = Math.max(1, Number(process.env.BENCH_FULLS ?? 3));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PREFILL = Number(process.env.BENCH_PREFILL_MIB ?? 300);
// BENCH_AGENT=0: guests without a guest agent channel; quiesce `auto` then backs up unfrozen.
const AGENT = process.env.BENCH_AGENT !== '0';
const dir = scratchDir('sendense-bench-libvirt-');
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const guestModule = await bundle(
  join(root, 'test/support/libvirt-guest.ts'),
  join(root, 'bench', 'out', 'libvirt-guest.mjs'),
  { packages: 'external' },
);
const { startGuest, guestWriteLatencies, stopStartedLibvirtd } = await import(guestModule);

const sizesMiB = { vda: 1024, vdb: 512 };
const guests = [];
// The guests, then the libvirtd and virtlogd this bench started, if it did (by their PIDs).
process.on('exit', () => {
  guests.forEach((guest) => guest.remove());
  stopStartedLibvirtd();
});
const ours = await startGuest({ name: 'bench-ours', sizesMiB, prefillMiB: PREFILL, agent: AGENT });
guests.push(ours);
const peer = PEER ? await startGuest({ name: 'bench-peer', sizesMiB, prefillMiB: PREFILL, agent: AGENT }) : undefined;
if (peer) guests.push(peer);
const sshd = await startSshd(dir);

function plan(name, node) {
  const file = join(dir, `${name}.yaml`);
  const doc = {
    version: 1,
    kind: 'incremental',
    name,
    vm: { name, source: { type: 'libvirt', domain: ours.name } },
    ...(node ? { node } : {}),
    repository: { path: join(dir, `${name}-repository`) },
  };
  writeFileSync(file, stringify(doc));
  return file;
}
const db = join(dir, 'state.db');
const node = {
  host: '127.0.0.1',
  port: sshd.port,
  user: sshd.user,
  identityFile: sshd.identityFile,
  knownHosts: sshd.knownHosts,
};
const local = plan('ours-local');
const remote = plan('ours-ssh', node);
const peerOut = join(dir, 'virtnbdbackup');

const du = (path) =>
  Number(execFileSync('du', ['-sb', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\t')[0]);
// One backup: its wall time, the bytes it added to its output, the guest's write latencies meanwhile.
async function measure(guest, argv, output) {
  const before = output ? safeDu(output) : 0;
  const fromRound = guest.rounds() + 1;
  const { seconds, started, ended, stdout } = await timedRun(argv);
  const steps = stepTimes(stdout, started, ended);
  const toRound = guest.rounds();
  const latencies = guestWriteLatencies(guest.consoleText(), fromRound).slice(0, Math.max(0, toRound - fromRound + 1));
  return {
    seconds,
    bytes: (output ? safeDu(output) : 0) - before,
    latencies,
    steps: steps?.times,
    cleanup: steps?.cleanup,
  };
}

const safeDu = (path) => {
  try {
    return du(path);
  } catch {
    return 0;
  }
};
const waitRounds = async (guest, n) => {
  const from = guest.rounds();
  while (guest.rounds() < from + n) await new Promise((resolve) => setTimeout(resolve, 200));
};

const results = {
  local: { full: [], inc: [] },
  ssh: { full: [], inc: [] },
  peer: { full: [], inc: [] },
  beforeLocal: { full: [], inc: [] },
  beforeSsh: { full: [], inc: [] },
  floor: [],
  nodeStart: [],
  pythonStart: [],
};
const beforeLocal = beforeCli && plan('before-local');
const beforeRemote = beforeCli && plan('before-ssh', node);
const beforeDb = join(dir, 'state-before.db');
const load = [loadavg()[0]];
// Fulls alternating, each into a new repository and state database (a disk belongs to one VM of a
// database) or output folder; the last ones are the chains the incrementals continue.
for (let full = 0; full < FULLS; full++) {
  const last = full === FULLS - 1;
  const localName = last ? 'ours-local' : `ours-local-full${full}`;
  const sshName = last ? 'ours-ssh' : `ours-ssh-full${full}`;
  const peerDir = last ? peerOut : join(dir, `virtnbdbackup-full${full}`);
  const fullDb = last ? db : join(dir, `state-full${full}.db`);
  results.local.full.push(
    await measure(
      ours,
      [process.execPath, cli, last ? local : plan(localName), '--db', fullDb, '--json'],
      join(dir, `${localName}-repository`),
    ),
  );
  if (peer)
    results.peer.full.push(
      await measure(peer, ['virtnbdbackup', '-d', peer.name, '-l', 'full', '-o', peerDir], peerDir),
    );
  if (beforeCli) {
    const name = last ? '' : `-full${full}`;
    const db = last ? beforeDb : join(dir, `state-before-full${full}.db`);
    const localPlan = last ? beforeLocal : plan(`before-local${name}`);
    const sshPlan = last ? beforeRemote : plan(`before-ssh${name}`, node);
    results.beforeLocal.full.push(
      await measure(
        ours,
        [process.execPath, beforeCli, localPlan, '--db', db, '--json'],
        join(dir, `before-local${name}-repository`),
      ),
    );
    results.beforeSsh.full.push(
      await measure(
        ours,
        [process.execPath, beforeCli, sshPlan, '--db', db, '--json'],
        join(dir, `before-ssh${name}-repository`),
      ),
    );
  }
  results.ssh.full.push(
    await measure(
      ours,
      [process.execPath, cli, last ? remote : plan(sshName, node), '--db', fullDb, '--json'],
      join(dir, `${sshName}-repository`),
    ),
  );
  load.push(loadavg()[0]);
}
for (let round = 0; round < ROUNDS; round++) {
  await waitRounds(ours, 5);
  results.local.inc.push(
    await measure(ours, [process.execPath, cli, local, '--db', db, '--json'], join(dir, 'ours-local-repository')),
  );
  if (peer) {
    await waitRounds(peer, 5);
    results.peer.inc.push(await measure(peer, ['virtnbdbackup', '-d', peer.name, '-l', 'inc', '-o', peerOut], peerOut));
  }
  if (beforeCli) {
    results.beforeLocal.inc.push(
      await measure(
        ours,
        [process.execPath, beforeCli, beforeLocal, '--db', beforeDb, '--json'],
        join(dir, 'before-local-repository'),
      ),
    );
    await waitRounds(ours, 5);
    results.beforeSsh.inc.push(
      await measure(
        ours,
        [process.execPath, beforeCli, beforeRemote, '--db', beforeDb, '--json'],
        join(dir, 'before-ssh-repository'),
      ),
    );
    await waitRounds(ours, 5);
  }
  results.ssh.inc.push(
    await measure(ours, [process.execPath, cli, remote, '--db', db, '--json'], join(dir, 'ours-ssh-repository')),
  );
  // The floor the shared tools set, on our domain (its chain unchanged), and the runtimes' starts.
  if (AGENT) {
    await waitRounds(ours, 5);
    results.floor.push(await liveFloor(ours, Object.keys(sizesMiB), dir));
  }
  results.nodeStart.push(await timedCall([process.execPath, '-e', '0']));
  if (PEER) results.pythonStart.push(await timedCall(['/usr/bin/python3', '-c', 'import libvirt']));
  load.push(loadavg()[0]);
}
await sshd.stop();

const idle = guestWriteLatencies((peer ?? ours).consoleText()).slice(5, 40);
const ms = (us) => (us / 1000).toFixed(1);
const row = (name, runs, reference) => {
  const seconds = median(runs.map((run) => run.seconds));
  const latencies = runs.flatMap((run) => run.latencies);
  const ratio = reference?.length ? `${(seconds / median(reference.map((run) => run.seconds))).toFixed(2)}x` : '1.00x';
  const lat = latencies.length ? `${ms(median(latencies))} / ${ms(Math.max(...latencies))}` : 'n/a';
  const all = runs.map((run) => run.seconds);
  const range = all.length > 1 ? ` (${Math.min(...all).toFixed(2)}-${Math.max(...all).toFixed(2)})` : '';
  return `| ${name} | ${seconds.toFixed(2)} s${range} | ${ratio} | ${(median(runs.map((run) => run.bytes)) / 1048576).toFixed(1)} MiB | ${lat} |`;
};
console.log(
  `\nlibvirt domain, disks ${sizesMiB.vda} + ${sizesMiB.vdb} MiB with ${PREFILL} MiB of data each, running under TCG; medians of ${FULLS} fulls and ${ROUNDS} incrementals; load ${load.map((l) => l.toFixed(1)).join(' ')}`,
);
console.log(
  `guest write latency when no backup runs (median / max of 3 synced 4 KiB writes): ${ms(median(idle))} / ${ms(Math.max(...idle))} ms\n`,
);
console.log(
  '| backup | wall time, median (range) | vs virtnbdbackup | bytes written | guest write latency meanwhile (median / max ms) |',
);
console.log('|---|---|---|---|---|');
const sshVsLocal = (ssh, local) =>
  `${(median(ssh.map((run) => run.seconds)) / median(local.map((run) => run.seconds))).toFixed(2)}x`;
const rows = [
  ['virtnbdbackup full', results.peer.full],
  ['sendense-run full, this host', results.local.full, results.peer.full],
  ['sendense-run full, SSH node', results.ssh.full, results.peer.full],
  ['before: full, this host', results.beforeLocal.full, results.peer.full],
  ['before: full, SSH node', results.beforeSsh.full, results.peer.full],
  ['virtnbdbackup incremental', results.peer.inc],
  ['sendense-run incremental, this host', results.local.inc, results.peer.inc],
  ['sendense-run incremental, SSH node', results.ssh.inc, results.peer.inc],
  ['before: incremental, this host', results.beforeLocal.inc, results.peer.inc],
  ['before: incremental, SSH node', results.beforeSsh.inc, results.peer.inc],
];
for (const [name, runs, reference] of rows) if (runs.length) console.log(row(name, runs, reference));
console.log(
  `\nSSH node vs this host, same code: full ${sshVsLocal(results.ssh.full, results.local.full)}, incremental ${sshVsLocal(results.ssh.inc, results.local.inc)}`,
);
if (results.floor.length) {
  // bench/README.md#the-floor-of-a-live-incremental-issue-82
  const floor = median(results.floor.map((round) => round.seconds));
  const calls = Object.keys(results.floor[0].calls)
    .map((call) => `${call} ${median(results.floor.map((round) => round.calls[call])).toFixed(2)}`)
    .join(', ');
  const node = median(results.nodeStart);
  const peerInc = results.peer.inc.length ? median(results.peer.inc.map((r) => r.seconds)) : undefined;
  console.log(
    `floor of a live incremental (bare virsh calls, median s): ${floor.toFixed(2)} (${calls}); Node.js start ${node.toFixed(2)}` +
      (results.pythonStart.length ? `; python3 + libvirt start ${median(results.pythonStart).toFixed(2)}` : '') +
      `; floor + Node.js start ${(floor + node).toFixed(2)} s` +
      (peerInc === undefined
        ? ''
        : ` = ${((floor + node) / peerInc).toFixed(2)}x virtnbdbackup's incremental (the 0.5x aim: ${(peerInc / 2).toFixed(2)} s)`),
  );
}
if (beforeCli)
  console.log(
    `before: full ${sshVsLocal(results.beforeSsh.full, results.beforeLocal.full)}, incremental ${sshVsLocal(results.beforeSsh.inc, results.beforeLocal.inc)}`,
  );

// Where our time goes: median seconds per step (and before the first event, after the last), for
// the checkout given as BENCH_BEFORE too.
for (const [name, runs] of [
  ['full, this host', results.local.full],
  ['incremental, this host', results.local.inc],
  ['incremental, SSH node', results.ssh.inc],
  ['before: full, this host', results.beforeLocal.full],
  ['before: incremental, this host', results.beforeLocal.inc],
  ['before: incremental, SSH node', results.beforeSsh.inc],
]) {
  const withSteps = runs.filter((run) => run.steps);
  if (withSteps.length === 0) continue;
  const names = [...new Set(withSteps.flatMap((run) => Object.keys(run.steps)))];
  const parts = names.map((step) => `${step} ${median(withSteps.map((run) => run.steps[step] ?? 0)).toFixed(2)}`);
  console.log(`steps of ours, ${name} (s, median): ${parts.join(', ')}`);
  const given = [...new Set(withSteps.flatMap((run) => Object.keys(run.cleanup ?? {})))];
  const entries = given.map((what) => `${what} ${median(withSteps.map((run) => run.cleanup?.[what] ?? 0)).toFixed(2)}`);
  if (entries.length > 0) console.log(`  its cleanup (s, median): ${entries.join('; ')}`);
}
