// Recovery drills (docs/drills.md): the time to a heartbeat when a drill boots the newest point of
// a 30-point chain, against a drill of the same VM's 1-point chain (its full), and against a full
// restore of that newest point followed by the same boot. The guest is the libvirt demo's
// (scripts/demo-guest.sh: a busybox initramfs with the host's kernel, software emulation, writing
// "W N" on its console twice a second), backed up live 30 times by the real CLI. Every command is
// started as a user starts it; drills and restores alternate. Needs root (libvirt's system daemon).
// BENCH_DRILL_POINTS (default 30), BENCH_RUNS (rounds, default 3), BENCH_TMPDIR.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, requireBuild, root } from './support/built.js';
import { benchPorts } from './support/local-plan.js';
import { scratchDir } from './support/scratch.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const POINTS = Number(process.env.BENCH_DRILL_POINTS ?? 30);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
requireBuild('drill');
if (process.getuid?.() !== 0) {
  console.log('bench drill: skipped, it needs root (it defines domains on qemu:///system)');
  process.exit(0);
}
const { SqliteDatabase } = await import(join(root, 'dist', 'src', 'store', 'sqlite-driver.js'));
const dir = scratchDir('sendense-bench-drill-');
// QEMU's user opens the drill's overlays under it: it may pass through (not list) the scratch folder.
chmodSync(dir, 0o711);
const repository = join(dir, 'repository');
const db = join(dir, 'state.db');
const ports = benchPorts();
const VM = 'sendense-bench-drill';

// The demo's guest, made and later removed by the demo's own shell functions in one bash that
// waits on its stdin in between (so the daemons it started are stopped by the PIDs it knows).
function startGuest() {
  const script = [
    'set -euo pipefail',
    'source scripts/libvirt-daemons.sh',
    'source scripts/demo-guest.sh',
    // A name of its own: the demo (and its test) may run beside the bench.
    `demo_guest_name=${VM}`,
    `demo_guest_dir=/var/lib/libvirt/images/${VM}`,
    'libvirt_daemons_start >&2',
    'demo_guest_create >&2',
    'echo ready',
    'read -r _ || true',
    'demo_guest_remove >&2',
    'libvirt_daemons_stop >&2',
  ].join('\n');
  const keeper = spawn('bash', ['-c', script], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const ended = new Promise((resolve) => keeper.once('exit', resolve));
  const ready = new Promise((resolve, reject) => {
    createInterface({ input: keeper.stdout }).on('line', (line) => line === 'ready' && resolve());
    keeper.once('exit', (code) => reject(new Error(`the demo guest did not start (bash exited ${code})`)));
  });
  const stop = async () => {
    keeper.stdin.end('\n');
    await ended;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  return { ready, stop };
}

function writePlan(name, lines) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, [`version: 1`, `name: ${name}`, ...lines, ''].join('\n'));
  return file;
}
const backupPlan = writePlan('bench-drill-backup', [
  'kind: incremental',
  'vm:',
  `  name: ${VM}`,
  `  source: { type: libvirt, domain: ${VM}, uri: "qemu:///system", quiesce: auto }`,
  `repository: { path: ${repository} }`,
  `nbd: { ports: ${ports} }`,
  'incremental: { onMissingChain: full, maxChainLength: 100 }',
]);
const drillPlan = (point) =>
  writePlan(`bench-drill-${point.slice(-4)}`, [
    'kind: drill',
    `vm: { name: ${VM} }`,
    `repository: { path: ${repository} }`,
    `nbd: { ports: ${ports} }`,
    'drill:',
    `  point: ${point}`,
    `  scratch: ${dir}`,
    '  isolation: { network: none }',
    '  checks:',
    '    - boot: { timeout: 300 }',
    '    - heartbeat: { console: "^W [0-9]", timeout: 600 }',
  ]);
const restorePlan = (point) =>
  writePlan(`bench-drill-restore-${point.slice(-4)}`, [
    'kind: restore',
    `vm: { name: ${VM} }`,
    `repository: { path: ${repository} }`,
    `nbd: { ports: ${ports} }`,
    'restore:',
    `  point: ${point}`,
    `  target: { type: file, path: "${join(dir, 'restored-{key}.qcow2')}", format: qcow2, overwrite: true }`,
    '  verify: false',
  ]);

const sendense = (args) => timedRun([process.execPath, cli, ...args, '--db', db], { stderr: 'pipe' });
// The newest drill's record: seconds from its start to the domain running and to the heartbeat.
function lastDrill() {
  const state = new SqliteDatabase(db, { readonly: true });
  try {
    return state.prepare('SELECT boot_seconds, heartbeat_seconds FROM drills ORDER BY rowid DESC LIMIT 1').get();
  } finally {
    state.close();
  }
}

const guest = startGuest();
try {
  await guest.ready;
  console.log(`load before: ${(await timedRun(['cat', '/proc/loadavg'])).stdout.trim()}`);
  const takes = [];
  for (let point = 0; point < POINTS; point++) takes.push((await sendense([backupPlan])).seconds);
  const listed = (await sendense(['backups', '--vm', VM, '--json'])).stdout.trim().split('\n');
  const points = listed.map((line) => JSON.parse(line));
  const [first, newest] = [points[0], points.at(-1)];
  console.log(
    `${points.length} points in one chain (${first.type} ${first.id} … ${newest.type} ${newest.id}); backups took ${median(takes).toFixed(1)} s each (median)`,
  );

  const series = { one: [], many: [], restore: [] };
  const drills = { one: drillPlan(first.id), many: drillPlan(newest.id) };
  const restore = restorePlan(newest.id);
  for (let round = 0; round < RUNS; round++) {
    for (const which of round % 2 === 0 ? ['one', 'many'] : ['many', 'one']) {
      const run = await sendense([drills[which]]);
      series[which].push({ wall: run.seconds, ...lastDrill() });
    }
    series.restore.push({ wall: (await sendense([restore])).seconds });
  }
  const med = (rows, field) => median(rows.map((row) => row[field]));
  // The restore's boot: the 1-point drill's time to heartbeat (a boot from one layer; it includes the
  // drill's serve and overlay, so it flatters the restore a little, if anything).
  const boot = med(series.one, 'heartbeat_seconds');
  const drilled = med(series.many, 'heartbeat_seconds');
  const rows = [
    ['drill, 1-point chain', series.one],
    [`drill, ${points.length}-point chain`, series.many],
  ];
  console.log('\n| | whole command, median (range) | to running | to heartbeat |');
  console.log('|---|---|---|---|');
  for (const [label, runs] of rows)
    console.log(
      `| ${label} | ${med(runs, 'wall').toFixed(1)} s (${spread(runs.map((run) => run.wall))}) | ${med(runs, 'boot_seconds').toFixed(1)} s | ${med(runs, 'heartbeat_seconds').toFixed(1)} s |`,
    );
  const restoreWall = med(series.restore, 'wall');
  console.log(
    `| restore of the newest point (qcow2, no verify) + the same boot | ${restoreWall.toFixed(1)} s + ${boot.toFixed(1)} s | | ${(restoreWall + boot).toFixed(1)} s |`,
  );
  const ratioChain = drilled / boot;
  console.log(
    `\nto heartbeat, ${points.length}-point / 1-point: ${ratioChain.toFixed(2)}x (aim <= 1.2x); drill / (restore + boot): ${(drilled / (restoreWall + boot)).toFixed(2)}x (aim <= 0.2x)`,
  );
  console.log(`load after: ${(await timedRun(['cat', '/proc/loadavg'])).stdout.trim()}`);
} finally {
  await guest.stop();
}
