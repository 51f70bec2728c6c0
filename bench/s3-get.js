// A bucket view's GETs (docs/copies.md#reading-straight-from-a-bucket) against the SDK's, of the same
// 1 GiB object on the one-node radosgw of the other s3 benches (test/support/ceph/up.sh): the
// reference as `aws s3 cp` reads (the SDK, 8 MiB ranged GETs, 10 in flight), then the view's 4 MiB
// blocks, 16 in flight, read through the SDK and through its own plain-HTTP GETs
// (src/copy/s3/plain-http-ranges.ts). Bytes dropped. Wall time and this process's CPU (user +
// system), alternating rounds after a warm-up, medians. BENCH_RUNS=N (5), BENCH_GIB=N (1).
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { requireBuild, root } from './support/built.js';
import { startBenchS3 } from './support/ceph-s3.js';
import { scratchDir } from './support/scratch.js';
import { median, spread } from './support/stats.js';

requireBuild('s3-get');
const { sdkRangeGet } = await import(pathToFileURL(join(root, 'dist/src/copy/s3/bucket-blocks.js')).href);
const { plainHttpRanges } = await import(pathToFileURL(join(root, 'dist/src/copy/s3/plain-http-ranges.js')).href);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_GIB ?? 1) * 1024 * MiB;
const dir = scratchDir('sendense-bench-s3-get-');
const { endpoint, client, env } = await startBenchS3(dir, 4 + (2 * SIZE) / 1024 / MiB);
await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
const key = 'object';
const part = randomBytes(64 * MiB);
const upload = await client.send(new CreateMultipartUploadCommand({ Bucket: 'bench', Key: key }));
const parts = [];
for (let number = 1; number <= SIZE / (64 * MiB); number++) {
  const { ETag } = await client.send(
    new UploadPartCommand({ Bucket: 'bench', Key: key, UploadId: upload.UploadId, PartNumber: number, Body: part }),
  );
  parts.push({ ETag, PartNumber: number });
}
await client.send(
  new CompleteMultipartUploadCommand({
    Bucket: 'bench',
    Key: key,
    UploadId: upload.UploadId,
    MultipartUpload: { Parts: parts },
  }),
);
const object = { key, size: SIZE };
const keys = { accessKeyId: env.BENCH_S3_KEY_ID, secretAccessKey: env.BENCH_S3_SECRET };
const plain = plainHttpRanges(endpoint, 'us-east-1', 'bench', keys);

// `get(start, end)` for every piece of `size` bytes, `flight` at once; the bytes are dropped.
async function readAll(size, flight, get) {
  let next = 0;
  const worker = async () => {
    for (let index = next++; index * size < SIZE; index = next++) {
      const pieces = await get(index * size, Math.min(SIZE, (index + 1) * size) - 1);
      if (pieces.reduce((sum, piece) => sum + piece.length, 0) !== Math.min(size, SIZE - index * size))
        throw new Error('short read');
    }
  };
  await Promise.all(Array.from({ length: flight }, worker));
}

const ways = {
  'sdk, 8 MiB x 10': () =>
    readAll(8 * MiB, 10, async (start, end) => {
      const answer = await client.send(
        new GetObjectCommand({ Bucket: 'bench', Key: key, Range: `bytes=${start}-${end}` }),
      );
      const pieces = [];
      for await (const chunk of answer.Body) pieces.push(chunk);
      return pieces;
    }),
  'view, sdk': () => readAll(4 * MiB, 16, (start, end) => sdkRangeGet(client, 'bench')(object, start, end)),
  'view, plain http': () => readAll(4 * MiB, 16, (start, end) => plain.get(object, start, end)),
};

console.log(`GETs of a ${SIZE / MiB} MiB object from radosgw on 127.0.0.1, ${RUNS} rounds after a warm-up`);
console.log(`load average before: ${loadavg()[0].toFixed(2)}`);
const times = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
const cpus = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
for (let round = 0; round <= RUNS; round++) {
  for (const [name, way] of Object.entries(ways)) {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await way();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    if (round === 0) continue;
    times[name].push(seconds);
    cpus[name].push((used.user + used.system) / 1e6);
  }
}
const reference = median(times['sdk, 8 MiB x 10']);
for (const name of Object.keys(ways)) {
  const seconds = median(times[name]);
  console.log(
    `median ${name.padEnd(17)} ${seconds.toFixed(2)} s (${spread(times[name])}), ${(SIZE / MiB / seconds).toFixed(0)} MiB/s, ` +
      `${(reference / seconds).toFixed(2)}x the SDK's throughput; CPU of this process ${median(cpus[name]).toFixed(2)} s (${spread(cpus[name])})`,
  );
}
console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
plain.close();
process.exit(0);
