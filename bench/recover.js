// Instant recovery (issue 28): a real libvirt guest backed up while it runs (one full, then
// incrementals while it writes), destroyed, then started again from a 1-layer and from an N-layer
// point with a `kind: recover` plan through the CLI: the time from the command to the domain
// running and to the guest's first console line, and the move of its disks home (libvirt block
// copy while it runs) against `qemu-img convert` of the same chain. One thing at a time (2 cores).
// BENCH_LAYERS=N the long chain (default 30), BENCH_PREFILL_MIB=N per disk (default 300),
// BENCH_RUNS=N recoveries of each point (default 3), each round with the original domain's boot,
// BENCH_VDA_MIB / BENCH_VDB_MIB the disks' sizes (default 1024 / 512; data fits in 2/3 of each).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { cli, requireBuild, root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { trackChild } from './support/scratch.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('recover');
const LAYERS = Number(process.env.BENCH_LAYERS ?? 30);
const PREFILL = Number(process.env.BENCH_PREFILL_MIB ?? 300);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = { vda: Number(process.env.BENCH_VDA_MIB ?? 1024), vdb: Number(process.env.BENCH_VDB_MIB ?? 512) };
const PORTS = '47300-47340';
const VM = 'bench-recover';
const MiB = 1024 * 1024;
// Not scratchDir: the state database must outlive the killed CLI for doctor (below), and
// scratch.js removes its dirs before this file's exit handler runs.
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-recover-'));
const db = join(dir, 'state.db');
const repository = join(dir, 'repository');
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const guestModule = await bundle(
  join(root, 'test/support/libvirt-guest.ts'),
  join(root, 'bench', 'out', 'libvirt-guest-recover.mjs'),
  { packages: 'external' },
);
const { startGuest, virshResult, stopStartedLibvirtd } = await import(guestModule);

let guest;
const recovered = [];
let recovering = false;
// scratch.js's handler has killed the CLI by now; a recovery killed halfway leaves its qemu-nbd
// running on this host: doctor, once the domain is gone, stops it and removes the overlays.
process.on('exit', () => {
  for (const domain of recovered) {
    virshResult('destroy', domain);
    virshResult('undefine', domain);
  }
  if (recovering) spawnSync(process.execPath, [cli, 'doctor', '--db', db, '--quiet'], { stdio: 'ignore' });
  guest?.remove();
  // The libvirtd and virtlogd this bench started, if it did (by their PIDs).
  stopStartedLibvirtd();
  rmSync(dir, { recursive: true, force: true });
});

const seconds = (since) => Number(process.hrtime.bigint() - since) / 1e9;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const events = (stdout) =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
const waitRounds = async (n) => {
  const from = guest.rounds();
  while (guest.rounds() < from + n) await sleep(200);
};

guest = await startGuest({ name: VM, sizesMiB: SIZES, prefillMiB: PREFILL });
const backupScratch = join(guest.dir, 'scratch');
mkdirSync(backupScratch);
chmodSync(backupScratch, 0o755);
const backupPlan = join(dir, 'backup.yaml');
writeFileSync(
  backupPlan,
  stringify({
    version: 1,
    kind: 'incremental',
    name: VM,
    vm: { name: VM, source: { type: 'libvirt', domain: guest.name, quiesce: 'off', scratch: backupScratch } },
    repository: { path: repository },
    nbd: { ports: PORTS },
  }),
);

// One full (the 1-layer point), then incrementals with the guest writing between them.
const backups = [];
for (let layer = 1; layer <= LAYERS; layer++) {
  if (layer > 1) await waitRounds(2);
  const run = await timedRun([process.execPath, cli, backupPlan, '--db', db, '--json']);
  const end = events(run.stdout).find((event) => event.type === 'run-end');
  if (end.taken !== (layer === 1 ? 'full' : 'incremental')) throw new Error(`backup ${layer} was taken ${end.taken}`);
  backups.push({ id: end.backupId, seconds: run.seconds });
  if (layer % 10 === 0 || layer === LAYERS) console.log(`backups: ${layer}/${LAYERS}`);
}
console.log(
  `full ${backups[0].seconds.toFixed(2)} s, incrementals ${median(backups.slice(1).map((b) => b.seconds)).toFixed(2)} s (median)`,
);
guest.destroy();

// The point's disks as the repository holds them: top file, its chain's length, virtual size.
const listed = events(
  execFileSync(process.execPath, [cli, 'backups', '--json', '--db', db, '--vm', VM], { encoding: 'utf8' }),
);
function pointDisks(id) {
  return listed
    .find((backup) => backup.id === id)
    .disks.map((disk) => {
      const chain = JSON.parse(
        execFileSync('qemu-img', ['info', '--backing-chain', '--output=json', disk.file], { encoding: 'utf8' }),
      );
      return { key: disk.diskKey, file: disk.file, virtualSize: disk.virtualSize, layers: chain.length };
    });
}

// The guest's console from now on: when its first line, GUEST-UP (init runs) and FIRST-WRITE
// (it writes its disks) appear, as seconds since `started`, polled every 50 ms.
function watchConsole(started) {
  const consoleLog = join(guest.dir, 'console.log');
  const from = statSync(consoleLog).size;
  const marks = {};
  const text = () => readFileSync(consoleLog).subarray(from).toString('latin1');
  const timer = setInterval(() => {
    if (statSync(consoleLog).size === from) return;
    const at = seconds(started);
    const since = text();
    if (marks.firstLine === undefined && since.includes('\n')) marks.firstLine = at;
    if (marks.guestUp === undefined && since.includes('GUEST-UP')) marks.guestUp = at;
    if (marks.firstWrite === undefined && since.includes('FIRST-WRITE')) marks.firstWrite = at;
  }, 50);
  return {
    marks,
    text,
    // Until the guest writes (TCG boots slowly; 3 min at most), then no more polling.
    async booted() {
      const until = Date.now() + 180_000;
      while (marks.firstWrite === undefined && Date.now() < until) await sleep(50);
      clearInterval(timer);
    },
    stop: () => clearInterval(timer),
  };
}

// The reference for the guest's boot: the original domain started on its own disks.
async function bootOriginal() {
  const started = process.hrtime.bigint();
  const watch = watchConsole(started);
  const result = virshResult('start', guest.name);
  const runningSeen = seconds(started);
  if (result.status !== 0) throw new Error(`virsh start ${guest.name}: ${result.stderr}`);
  await watch.booted();
  guest.destroy();
  return { runningSeen, ...watch.marks };
}

// One recover run, its JSON events stamped as they arrive, the console watched meanwhile.
let recoveries = 0;
async function recover(point) {
  const n = ++recoveries;
  const domain = `${guest.name}-r${n}`;
  const storage = join(guest.dir, `r${n}-{key}.qcow2`);
  const plan = join(dir, `recover-r${n}.yaml`);
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'recover',
      name: `${VM}-r${n}`,
      vm: { name: VM },
      repository: { path: repository },
      nbd: { ports: PORTS },
      recover: { point, to: { type: 'libvirt', domain, storage, scratch: guest.dir }, moveStorage: true },
    }),
  );
  recovered.push(domain);
  recovering = true;
  const started = process.hrtime.bigint();
  const watch = watchConsole(started);
  const child = trackChild(
    spawn(process.execPath, [cli, plan, '--db', db, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const received = [];
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{')) received.push({ ...JSON.parse(line), at: seconds(started) });
  });
  const code = await new Promise((resolve) => child.once('close', resolve));
  const total = seconds(started);
  if (code !== 0) {
    watch.stop();
    const failed = received.find((event) => event.type === 'step-fail' || event.type === 'error');
    throw new Error(`recover of ${point} exited ${code}: ${failed ? JSON.stringify(failed) : stderr.slice(-2000)}`);
  }
  recovering = false;
  // The move may end before the guest has booted: its console is watched on.
  await watch.booted();
  const resumed = /RESUME (\d+)/.exec(watch.text())?.[1];
  virshResult('destroy', domain);
  virshResult('undefine', domain);
  recovered.splice(recovered.indexOf(domain), 1);
  for (const disk of pointDisks(point)) rmSync(storage.replace('{key}', String(disk.key)), { force: true });

  const find = (type, step) => received.find((event) => event.type === type && event.step === step);
  const moveStart = find('step-start', 'move-storage').at;
  // When the run first saw every disk's copy at 100% (libvirt's progress; then the pivot and the definition).
  const done = new Map();
  let copied;
  for (const event of received.filter((e) => e.type === 'progress' && e.at > moveStart)) {
    done.set(event.disk, event.bytesDone >= event.bytesToDo);
    if (copied === undefined && done.size === pointDisks(point).length && [...done.values()].every(Boolean))
      copied = event.at - moveStart;
  }
  const steps = received
    .filter((event) => event.type === 'step-done')
    .map((event) => `${event.step} ${(event.at - (find('step-start', event.step)?.at ?? event.at)).toFixed(2)}`)
    .join(', ');
  return {
    runningAfter: find('step-done', 'start-domain').facts.runningAfterSeconds,
    runningSeen: find('step-done', 'start-domain').at,
    ...watch.marks,
    moveSeconds: find('step-done', 'move-storage').at - moveStart,
    copiedSeen: copied,
    moveSummary: find('step-done', 'move-storage').summary,
    total,
    resumed,
    steps,
  };
}

// qemu-img convert of each disk's chain into a qcow2 beside the storage files, one after another;
// cache none: the target written with O_DIRECT, as the move writes (the domain's disks are cache='none').
async function convert(point, cache) {
  let total = 0;
  for (const disk of pointDisks(point)) {
    const out = join(guest.dir, `convert-${disk.key}.qcow2`);
    total += (
      await timedRun([
        'qemu-img',
        'convert',
        ...(cache ? ['-t', cache] : []),
        '-f',
        'qcow2',
        '-O',
        'qcow2',
        disk.file,
        out,
      ])
    ).seconds;
    rmSync(out, { force: true });
  }
  return total;
}

// Each round: the original domain's own boot, then each point recovered and converted; the
// points' order flips every round.
const points = [backups[0].id, backups[LAYERS - 1].id];
const original = [];
const byPoint = new Map(points.map((point) => [point, { recoveries: [], converts: [], directConverts: [] }]));
const load = [loadavg()[0]];
for (let round = 0; round < RUNS; round++) {
  original.push(await bootOriginal());
  for (const point of round % 2 === 0 ? points : [...points].reverse()) {
    byPoint.get(point).recoveries.push(await recover(point));
    byPoint.get(point).converts.push(await convert(point));
    byPoint.get(point).directConverts.push(await convert(point, 'none'));
  }
  load.push(loadavg()[0]);
  console.log(`round ${round + 1}/${RUNS} done`);
}

// "median (min-max)" of a field, in seconds.
const figure = (runs, field, digits = 2) => {
  const values = runs.map((run) => run[field]).filter((value) => value !== undefined);
  if (values.length === 0) return 'n/a';
  const range =
    values.length > 1 ? ` (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})` : '';
  return `${median(values).toFixed(digits)} s${range}`;
};
const layersOf = (point) => pointDisks(point)[0].layers;
const bytes = pointDisks(points[0]).reduce((sum, disk) => sum + disk.virtualSize, 0);
const rate = (secs) => `${(bytes / MiB / secs).toFixed(0)} MiB/s`;
console.log(
  `\nlibvirt guest under TCG, disks ${SIZES.vda} + ${SIZES.vdb} MiB with up to ${PREFILL} MiB of data each; median (min-max) of ${RUNS} runs; load ${load.map((l) => l.toFixed(1)).join(' ')}`,
);
console.log('\ntime from the command (virsh start / sendense-run spawned) to:\n');
console.log(
  '| start | domain running (runningAfterSeconds / event seen) | first console line | guest init up | first guest write |',
);
console.log('|---|---|---|---|---|');
console.log(
  `| original domain, virsh start on its own disks | — / ${figure(original, 'runningSeen')} | ${figure(original, 'firstLine')} | ${figure(original, 'guestUp')} | ${figure(original, 'firstWrite')} |`,
);
for (const point of points) {
  const runs = byPoint.get(point).recoveries;
  console.log(
    `| recover, ${layersOf(point)}-layer point | ${figure(runs, 'runningAfter', 1)} / ${figure(runs, 'runningSeen')} | ${figure(runs, 'firstLine')} | ${figure(runs, 'guestUp')} | ${figure(runs, 'firstWrite')} |`,
  );
}
console.log(
  `\nthe move (step-start to step-done of move-storage) against qemu-img convert of the same chain, both disks (${(bytes / MiB).toFixed(0)} MiB virtual):\n`,
);
console.log(
  '| point | move | of which copy seen at 100% | qemu-img convert | move throughput vs convert | convert -t none | move vs convert -t none | whole recover run |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const point of points) {
  const { recoveries, converts, directConverts } = byPoint.get(point);
  const move = median(recoveries.map((run) => run.moveSeconds));
  const convertSeconds = median(converts);
  const asRuns = (list) => list.map((seconds) => ({ seconds }));
  console.log(
    `| ${layersOf(point)}-layer point | ${figure(recoveries, 'moveSeconds')}, ${rate(move)} | ${figure(recoveries, 'copiedSeen')} | ${figure(asRuns(converts), 'seconds')}, ${rate(convertSeconds)} | ${(convertSeconds / move).toFixed(2)}x | ${figure(asRuns(directConverts), 'seconds')} | ${(median(directConverts) / move).toFixed(2)}x | ${figure(recoveries, 'total')} |`,
  );
}
console.log('');
for (const point of points) {
  for (const run of byPoint.get(point).recoveries) {
    console.log(`${point} (${layersOf(point)} layers): resumed at counter ${run.resumed ?? 'n/a'}; ${run.moveSummary}`);
    console.log(`  steps (s): ${run.steps}`);
  }
}
