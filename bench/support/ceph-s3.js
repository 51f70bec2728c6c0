// A real S3 server for the s3 benches: a one-node Ceph cluster with radosgw on 127.0.0.1
// (test/support/ceph/up.sh) under `dir`, stopped by PID (down.sh) when the bench exits, and a
// client with its user's keys, configured as the project's own (path-style, no extra checksums).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { freePort } from './free-port.js';

const ceph = resolve('test/support/ceph');

/** `blockGib`: the OSD's sparse file (room for what the bench writes: a full cluster blocks writes). */
export async function startBenchS3(dir, blockGib) {
  const port = await freePort();
  execFileSync('bash', [join(ceph, 'up.sh'), join(dir, 'ceph'), String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CEPH_BLOCK_GIB: String(blockGib) },
  });
  // Before the scratch directory goes (scratch.js's exit handler): down.sh finds the daemons by it.
  process.prependListener('exit', () => execFileSync('bash', [join(ceph, 'down.sh'), join(dir, 'ceph')]));
  process.on('SIGTERM', () => process.exit(143));
  const user = JSON.parse(readFileSync(join(dir, 'ceph', 's3-user.json'), 'utf8')).keys[0];
  const endpoint = `http://127.0.0.1:${port}`;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: user.access_key, secretAccessKey: user.secret_key },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // The environment a plan's accessKeyIdEnv / secretAccessKeyEnv name.
  const env = { ...process.env, CI: '1', BENCH_S3_KEY_ID: user.access_key, BENCH_S3_SECRET: user.secret_key };
  return { endpoint, client, env };
}
