// State in PostgreSQL vs SQLite (docs/how-it-works.md#scale, issue 17). 1) What one run costs the store:
// createRun, lease 2 ports, lock the VM, record a backup with one disk, complete it, unlock,
// release, finish — per run, SQLite file vs PostgreSQL on 127.0.0.1 (alternating rounds,
// medians, ratio). 2) A 100-plan fire: 100 cheap plans (verify, no backups yet) due at the same
// second, run by 3 `schedule` hubs sharing one PostgreSQL vs 1 hub on SQLite: seconds from the fire
// to the last run's end, runs per hub, and that every plan ran once.
// BENCH_PG_RUNS (store runs per round, default 100), BENCH_PG_PLANS (default 100).
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild, root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { scratchDir, stopChild, trackChild } from './support/scratch.js';
import { median } from './support/stats.js';

requireBuild('postgres');
const RUNS = Number(process.env.BENCH_PG_RUNS ?? 100);
const PLANS = Number(process.env.BENCH_PG_PLANS ?? 100);
const dir = scratchDir('sendense-bench-pg-');
// Bundled inside the checkout, so pg and better-sqlite3 resolve from node_modules.
const bundles = join(root, '.tmp', `bench-pg-${process.pid}`);
mkdirSync(bundles, { recursive: true });
process.on('exit', () => rmSync(bundles, { recursive: true, force: true }));
const { openStore } = await import(
  await bundle(join(root, 'src/store/index.ts'), join(bundles, 'store.mjs'), { packages: 'external' })
);
const { startPostgres } = await import(
  await bundle(join(root, 'test/support/postgres-server.ts'), join(bundles, 'pg.mjs'), { packages: 'external' })
);

console.log(
  `load average before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const server = await startPostgres();
try {
  await storeLatency();
  await hundredPlanFire();
} finally {
  await server.stop();
}
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

// Milliseconds per run of the store calls one backup run makes.
async function runsPerStore(store, runs) {
  const first = 30000 + Math.floor(Math.random() * 200) * 50;
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const run = await store.createRun({ plan: 'bench', kind: 'backup', trigger: 'manual' });
    await store.leasePorts({ runId: run.id, count: 2, first, last: first + 49, isFree: async () => true });
    await store.lockVm('benchvm', run.id, 'bench');
    const backup = await store.createBackup({
      vm: 'benchvm',
      plan: 'bench',
      type: 'full',
      repository: '/repo',
      runId: run.id,
    });
    await store.addBackupDisk(backup.id, {
      diskKey: 2000,
      file: `/repo/benchvm/disk-2000/${backup.id}.qcow2`,
      virtualSize: 2 ** 34,
      source: '/vm.qcow2',
      sourceNode: 'local',
    });
    await store.completeBackupDisk(backup.id, 2000, { changeId: 'c', bytes: 2 ** 30 });
    await store.completeBackup(backup.id);
    await store.unlockVm('benchvm', run.id);
    await store.releasePorts(run.id);
    await store.finishRun(run.id, 'succeeded');
  }
  return Number(process.hrtime.bigint() - started) / 1e6 / runs;
}

async function storeLatency() {
  const sqlite = await openStore(join(dir, 'latency.db'));
  const postgres = await openStore(await server.createDatabase('latency'));
  try {
    const stores = { sqlite, postgres };
    const rounds = { sqlite: [], postgres: [] };
    await alternatingRounds(5, ['sqlite', 'postgres'], async (name, round) => {
      const ms = await runsPerStore(stores[name], RUNS);
      if (round >= 0) rounds[name].push(ms);
    });
    const s = median(rounds.sqlite);
    const p = median(rounds.postgres);
    console.log(`store calls of one backup run (${RUNS} runs a round, 5 rounds, medians):`);
    console.log(
      `  SQLite     ${s.toFixed(2)} ms/run (${Math.min(...rounds.sqlite).toFixed(2)}-${Math.max(...rounds.sqlite).toFixed(2)})`,
    );
    console.log(
      `  PostgreSQL ${p.toFixed(2)} ms/run (${Math.min(...rounds.postgres).toFixed(2)}-${Math.max(...rounds.postgres).toFixed(2)})`,
    );
    console.log(`  ratio PostgreSQL/SQLite: ${(p / s).toFixed(2)}x`);
  } finally {
    await sqlite.close();
    await postgres.close();
  }
}

// Starts `schedule --json` hubs on `db` with the plans in `plans`; resolves when `PLANS` runs ended.
async function fire(label, db, hubs) {
  const slug = label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const plans = join(dir, `plans-${slug}`);
  const repository = join(dir, `repository-${slug}`);
  mkdirSync(plans, { recursive: true });
  const due = new Date(Math.ceil((Date.now() + 6000) / 1000) * 1000);
  const cron = `${due.getUTCSeconds()} ${due.getUTCMinutes()} ${due.getUTCHours()} * * *`;
  for (let i = 0; i < PLANS; i++) {
    writeFileSync(
      join(plans, `p${i}.yaml`),
      `version: 1\nkind: verify\nname: p${i}\nschedule: '${cron}'\ntimezone: UTC\nrepository: { path: ${repository} }\nverify: { vm: vm${i} }\n`,
    );
  }
  const ends = [];
  const children = Array.from({ length: hubs }, (_, h) => {
    const config = join(dir, `${slug}-hub-${h}.yaml`);
    writeFileSync(config, `name: ${slug}-hub-${h}\nrepositories: [${repository}]\n`);
    const child = trackChild(
      spawn(process.execPath, [cli, 'schedule', '--json', plans, '--db', db, '--hub-config', config], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, CI: '1' },
      }),
    );
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines)
        if (line.includes('"run-end"')) ends.push({ hub: h, at: Date.now(), plan: JSON.parse(line).plan });
    });
    return child;
  });
  const deadline = due.getTime() + 120_000;
  const running = () => children.some((child) => child.exitCode === null && child.signalCode === null);
  while (ends.length < PLANS && Date.now() < deadline && running())
    await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await Promise.all(children.map((child) => stopChild(child)));
  const last = Math.max(...ends.map((end) => end.at));
  const perHub = Array.from({ length: hubs }, (_, h) => ends.filter((end) => end.hub === h).length);
  const plansRun = new Set(ends.map((end) => end.plan)).size;
  console.log(
    `  ${label.padEnd(22)} ${ends.length} runs of ${plansRun}/${PLANS} plans, last ended ${((last - due.getTime()) / 1000).toFixed(2)} s after the fire; runs per hub ${perHub.join('/')}`,
  );
  return (last - due.getTime()) / 1000;
}

async function hundredPlanFire() {
  console.log(`${PLANS} plans due at the same second (verify, nothing stored yet):`);
  const one = await fire('1 hub, SQLite', join(dir, 'fire.db'), 1);
  const three = await fire('3 hubs, PostgreSQL', await server.createDatabase('fire'), 3);
  console.log(`  ratio 3 hubs PostgreSQL / 1 hub SQLite: ${(three / one).toFixed(2)}x`);
}
