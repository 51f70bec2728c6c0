// Copies to object storage (docs/copies.md#copies-on-object-storage): a repository holding one
// point of a disk with 1 GiB of random data, copied by an s3 copy plan (verify: false, so only
// the upload is timed; then once with objectLock and once with verify: true, for their costs) to
// a fresh prefix of a bucket on a real radosgw (a one-node Ceph cluster on 127.0.0.1 started by
// test/support/ceph/up.sh, BlueStore on a sparse file), against a plain multipart upload of the
// same files with the same SDK as `aws s3 cp` does it (8 MiB parts, 10 in flight, no
// Content-MD5). Warm-up, alternating rounds, medians, load average.
// BENCH_RUNS=N rounds (default 3), BENCH_GIB=N of data (default 1), BENCH_TMPDIR (default /var/tmp).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild } from './support/built.js';
import { startBenchS3 } from './support/ceph-s3.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('s3-copy');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 1);
const MiB = 1024 * 1024;
const dir = scratchDir('sendense-bench-s3-copy-');
const db = join(dir, 'state.db');
const repository = join(dir, 'repository');

// The S3 server, stopped by PID when the bench ends; room for every round's upload (the file is sparse).
const { endpoint, client, env } = await startBenchS3(dir, 16 + 12 * DATA_GIB * (RUNS + 3));
await client.send(new CreateBucketCommand({ Bucket: 'bench', ObjectLockEnabledForBucket: true }));

// The repository: one full point of a disk with DATA_GIB of random data (8 MiB regions, 8 MiB holes).
const image = join(dir, 'source.qcow2');
makeSourceImage(image, { regions: DATA_GIB * 128 });
const backupPlan = writeLocalPlan(join(dir, 'backup.yaml'), {
  name: 'bench-backup',
  source: image,
  repository,
  ports: benchPorts(),
});
await timedRun([process.execPath, cli, backupPlan, '--db', db], { env });
const files = readdirSync(repository, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => join(entry.parentPath, entry.name));
const bytes = files.reduce((sum, file) => sum + statSync(file).size, 0);

let round = 0;
const copyPlan = (name, options) => {
  const file = join(dir, `${name}.yaml`);
  const to = {
    type: 's3',
    endpoint,
    bucket: 'bench',
    prefix: `${name}-${round++}`,
    accessKeyIdEnv: 'BENCH_S3_KEY_ID',
    secretAccessKeyEnv: 'BENCH_S3_SECRET',
    ...options.to,
  };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'copy',
      name,
      repository: { path: repository },
      copy: { to, verify: options.verify },
    }),
  );
  return file;
};

// `aws s3 cp --recursive` of the repository: each file one PUT up to 8 MiB, else 8 MiB parts, 10 in flight.
async function plainUpload() {
  const prefix = `plain-${round++}`;
  const started = process.hrtime.bigint();
  for (const file of files) {
    const key = `${prefix}/${relative(repository, file)}`;
    const body = readFileSync(file);
    if (body.length <= 8 * MiB) {
      await client.send(new PutObjectCommand({ Bucket: 'bench', Key: key, Body: body }));
      continue;
    }
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'bench', Key: key }));
    const parts = [];
    let next = 0;
    const worker = async () => {
      for (let part = next++; part * 8 * MiB < body.length; part = next++) {
        const chunk = body.subarray(part * 8 * MiB, (part + 1) * 8 * MiB);
        const { ETag } = await client.send(
          new UploadPartCommand({ Bucket: 'bench', Key: key, UploadId, PartNumber: part + 1, Body: chunk }),
        );
        parts[part] = { PartNumber: part + 1, ETag };
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: 'bench', Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const tools = {
  ours: async () =>
    (await timedRun([process.execPath, cli, copyPlan('bench-s3', { verify: false }), '--db', db, '--quiet'], { env }))
      .seconds,
  'plain multipart': plainUpload,
};
const times = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
const mib = bytes / MiB;
console.log(
  `upload of a repository of ${mib.toFixed(0)} MiB (one point) to a fresh prefix of a bucket on radosgw (127.0.0.1), ${RUNS} rounds after a warm-up, alternating`,
);
console.log(`load average before: ${loadavg()[0].toFixed(2)}`);
await alternatingRounds(RUNS, Object.keys(tools), async (name, at) => {
  const seconds = await tools[name]();
  if (at < 0) return;
  times[name].push(seconds);
  console.log(`  ${name.padEnd(15)} ${seconds.toFixed(2)} s  ${(mib / seconds).toFixed(0)} MiB/s`);
});
const ours = median(times.ours);
for (const name of Object.keys(tools)) {
  const seconds = median(times[name]);
  console.log(
    `median ${name.padEnd(15)} ${seconds.toFixed(2)} s (${spread(times[name])}), ${(mib / seconds).toFixed(0)} MiB/s${name === 'ours' ? '' : `: ours at ${(seconds / ours).toFixed(2)}x its throughput`}`,
  );
}
const locked = (
  await timedRun(
    [
      process.execPath,
      cli,
      copyPlan('bench-s3-locked', { verify: false, to: { objectLock: { mode: 'compliance', days: 1 } } }),
      '--db',
      db,
      '--quiet',
    ],
    { env },
  )
).seconds;
console.log(
  `with objectLock (each object's lock set and read back): ${locked.toFixed(2)} s, ${(mib / locked).toFixed(0)} MiB/s`,
);
const verified = (
  await timedRun([process.execPath, cli, copyPlan('bench-s3-verified', { verify: true }), '--db', db, '--quiet'], {
    env,
  })
).seconds;
console.log(
  `with verify: true (each hub file checked against its manifest first): ${verified.toFixed(2)} s, ${(mib / verified).toFixed(0)} MiB/s`,
);
console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
client.destroy();
