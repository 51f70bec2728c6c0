// A restore straight from a bucket (docs/copies.md#reading-straight-from-a-bucket): a point of a
// disk with BENCH_GIB of random data (default 2), copied by an s3 copy plan to a bucket on a real
// radosgw (a one-node Ceph cluster on 127.0.0.1, test/support/ceph/up.sh), then restored into a
// qcow2 file by a restore plan whose repository is a `sendense-run fetch --lazy` view of the bucket
// (a fresh view each round: nothing cached), with verify: false and with verify: true (the
// default: the restored disk is read back and checked against the manifests). Beside it, what the
// server allows: the same object downloaded as `aws s3 cp` does (8 MiB ranged GETs, 10 in flight,
// bytes dropped), `fetch` then a restore from the fetched directory, and the same restore from the
// local repository the copy was made from (what a restore costs here with no bucket at all). Warm-up, alternating
// rounds, medians, load average. BENCH_RUNS=N (3), BENCH_GIB=N (2), BENCH_TMPDIR (default /var/tmp).
// BENCH_BEFORE_ROOT=DIR: also the lazy restore by another build (a checkout with bin/ and dist/, e.g.
// from before a change), in the same rounds; BENCH_READ_AHEAD=MIB: the view's --read-ahead.
// BENCH_VIEW_DIRECT=1: also `qemu-img convert` of the point's file from a view, through its FUSE
// file and straight from the view's NBD socket (what the FUSE file costs; bench/README.md).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild } from './support/built.js';
import { startBenchS3 } from './support/ceph-s3.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir, trackChild } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('s3-lazy-restore');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 2);
const MiB = 1024 * 1024;
const dir = scratchDir('sendense-bench-s3-lazy-');
const db = join(dir, 'state.db');
const repository = join(dir, 'repository');

const { endpoint, client, env } = await startBenchS3(dir, 16 + 4 * DATA_GIB);
await client.send(new CreateBucketCommand({ Bucket: 'bench' }));

// One full point of a disk with DATA_GIB of random data (8 MiB regions, 8 MiB holes), copied once.
const image = join(dir, 'source.qcow2');
makeSourceImage(image, { regions: DATA_GIB * 128 });
const ports = benchPorts();
await timedRun(
  [
    process.execPath,
    cli,
    writeLocalPlan(join(dir, 'backup.yaml'), { name: 'bench-backup', source: image, repository, ports }),
    '--db',
    db,
  ],
  { env },
);
const copyPlan = join(dir, 'copy.yaml');
const to = {
  type: 's3',
  endpoint,
  bucket: 'bench',
  prefix: 'copy',
  accessKeyIdEnv: 'BENCH_S3_KEY_ID',
  secretAccessKeyEnv: 'BENCH_S3_SECRET',
};
writeFileSync(
  copyPlan,
  stringify({
    version: 1,
    kind: 'copy',
    name: 'bench-copy',
    repository: { path: repository },
    copy: { to, verify: false },
  }),
);
await timedRun([process.execPath, cli, copyPlan, '--db', db, '--quiet'], { env });
const point = JSON.parse(
  execFileSync(process.execPath, [cli, 'backups', '--json', '--db', db], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1),
);
const objectKey = `copy/benchvm/disk-2000/${point.id}.qcow2`;
const objectSize = (await client.send(new HeadObjectCommand({ Bucket: 'bench', Key: objectKey }))).ContentLength;
const dataMiB = DATA_GIB * 1024;

function restorePlan(name, from, verify) {
  const file = join(dir, `${name}.yaml`);
  const target = { type: 'file', path: join(dir, 'restored-{key}.qcow2'), format: 'qcow2', overwrite: true };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'restore',
      name,
      vm: { name: 'benchvm' },
      repository: { path: from },
      nbd: { ports },
      restore: { point: 'latest', target, verify },
    }),
  );
  return file;
}

// A fresh view of the bucket at DIR by the CLI `built` (its --read-ahead: BENCH_READ_AHEAD for ours):
// `use(child)` once it is open, then closed and removed. Tracked: a bench stopped halfway (Ctrl+C,
// SIGTERM) leaves no view mounted behind it.
async function withView(view, built, use) {
  const readAhead = built === cli && process.env.BENCH_READ_AHEAD ? ['--read-ahead', process.env.BENCH_READ_AHEAD] : [];
  const child = trackChild(
    spawn(process.execPath, [built, 'fetch', copyPlan, view, '--lazy', '--json', ...readAhead], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await new Promise((ready, failed) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('"type":"view"')) ready();
    });
    child.once('exit', (code) => failed(new Error(`fetch --lazy ended (${code}) before its view was open`)));
  });
  try {
    return await use(child);
  } finally {
    const ended = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await ended;
    rmSync(view, { recursive: true, force: true });
  }
}

// A fresh view of the bucket, imported into a database of its own: the restore from it, timed.
async function lazyRestore(round, verify, built = cli) {
  const view = join(dir, `view-${round}-${verify}`);
  const viewDb = join(dir, `view-${round}-${verify}.db`);
  return withView(view, built, async () => {
    execFileSync(process.execPath, [built, 'catalog', 'import', view, '--db', viewDb], { env, stdio: 'ignore' });
    const plan = restorePlan(`lazy-${verify}`, view, verify);
    return (await timedRun([process.execPath, built, plan, '--db', viewDb, '--quiet'], { env })).seconds;
  });
}

// What the server allows: the object as `aws s3 cp` reads it (8 MiB ranged GETs, 10 in flight), bytes dropped.
async function plainDownload() {
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    for (let part = next++; part * 8 * MiB < objectSize; part = next++) {
      const end = Math.min(objectSize, (part + 1) * 8 * MiB) - 1;
      const answer = await client.send(
        new GetObjectCommand({ Bucket: 'bench', Key: objectKey, Range: `bytes=${part * 8 * MiB}-${end}` }),
      );
      for await (const _chunk of answer.Body);
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

// fetch of the point, then a restore from the fetched directory (verify: false).
async function fetchThenRestore(round) {
  const into = join(dir, `fetched-${round}`);
  const fetchDb = join(dir, `fetched-${round}.db`);
  mkdirSync(into);
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, [cli, 'fetch', copyPlan, into], { env, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'catalog', 'import', into, '--db', fetchDb], { env, stdio: 'ignore' });
  await timedRun([process.execPath, cli, restorePlan('fetched', into, false), '--db', fetchDb, '--quiet'], { env });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rmSync(into, { recursive: true, force: true });
  return seconds;
}

// The same restore from the repository the copy was made from (the hub's disk, no bucket): the floor.
async function localRestore() {
  return (
    await timedRun([process.execPath, cli, restorePlan('local', repository, false), '--db', db, '--quiet'], { env })
  ).seconds;
}

// BENCH_VIEW_DIRECT=1: qemu-img convert of the point's file from a view, through its FUSE file and
// straight from the view's NBD socket (the daemon's own export), timed apart from the view's start.
async function viewConvert(round, direct) {
  const view = join(dir, `view-convert-${round}-${direct}`);
  const out = join(dir, 'converted.qcow2');
  const relative = `benchvm/disk-2000/${point.id}.qcow2`;
  try {
    return await withView(view, cli, (child) => {
      const daemon = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')[0];
      const socket = /server\.path=([^,\0]+)/.exec(readFileSync(`/proc/${daemon}/cmdline`, 'utf8'))[1];
      const source = direct
        ? [
            '--image-opts',
            `driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=${socket},file.export=${relative}`,
          ]
        : ['-f', 'qcow2', join(view, relative)];
      const started = process.hrtime.bigint();
      execFileSync('qemu-img', ['convert', '-t', 'writeback', ...source, '-O', 'qcow2', out]);
      return Number(process.hrtime.bigint() - started) / 1e9;
    });
  } finally {
    rmSync(out, { force: true });
  }
}

const beforeCli =
  process.env.BENCH_BEFORE_ROOT && join(resolve(process.env.BENCH_BEFORE_ROOT), 'bin', 'sendense-run.js');
const tools = {
  'lazy restore': (round) => lazyRestore(round, false),
  ...(beforeCli && { 'lazy (before)': (round) => lazyRestore(round, false, beforeCli) }),
  'lazy verified': (round) => lazyRestore(round, true),
  'plain download': () => plainDownload(),
  'fetch+restore': (round) => fetchThenRestore(round),
  'local restore': () => localRestore(),
  ...(process.env.BENCH_VIEW_DIRECT === '1' && {
    'view: fuse file': (round) => viewConvert(round, false),
    'view: nbd socket': (round) => viewConvert(round, true),
  }),
};
const times = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
console.log(
  `restore of a point with ${dataMiB} MiB of data (object ${(objectSize / MiB).toFixed(0)} MiB) from a bucket on radosgw (127.0.0.1), ${RUNS} rounds after a warm-up, alternating`,
);
console.log(`load average before: ${loadavg()[0].toFixed(2)}`);
await alternatingRounds(RUNS, Object.keys(tools), async (name, round) => {
  const seconds = await tools[name](round + 1);
  if (round < 0) return;
  times[name].push(seconds);
  console.log(`  ${name.padEnd(15)} ${seconds.toFixed(2)} s  ${(dataMiB / seconds).toFixed(0)} MiB/s of data`);
});
const plain = median(times['plain download']);
for (const name of Object.keys(tools)) {
  const seconds = median(times[name]);
  const mbs = ((DATA_GIB * 1024 * MiB) / seconds / 1e6).toFixed(0);
  console.log(
    `median ${name.padEnd(15)} ${seconds.toFixed(2)} s (${spread(times[name])}), ${(dataMiB / seconds).toFixed(0)} MiB/s (${mbs} MB/s) of data${name === 'plain download' ? '' : `: ${(plain / seconds).toFixed(2)}x the plain download's throughput`}`,
  );
}
console.log(`restored file: ${(statSync(join(dir, 'restored-2000.qcow2')).size / MiB).toFixed(0)} MiB`);
console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
client.destroy();
