// A real S3 server for a test file: Ceph's radosgw on a one-node cluster (one mon, one BlueStore
// OSD on a sparse file) started by test/support/ceph/up.sh under a temp dir, listening only on
// 127.0.0.1, with one user whose keys radosgw-admin made (they are read from its JSON, never put
// on a command line). Stopped by PID (test/support/ceph/down.sh) after the file's tests.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './free-port.js';

const run = promisify(execFile);
const SCRIPTS = path.resolve('test/support/ceph');

export interface TestS3 {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** A client with the user's keys (what the hub's plan gets). */
  readonly client: S3Client;
  /** A new bucket, with object lock (and so versioning) when asked. */
  makeBucket(name: string, options?: { readonly objectLock?: boolean; readonly versioning?: boolean }): Promise<void>;
}

// Registers the file's hooks: one cluster for every test of the file.
export function useS3Server(): { readonly s3: TestS3 } {
  let server: (TestS3 & { readonly dir: string }) | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sendense-s3-'));
    const port = await freePort();
    await run('bash', [path.join(SCRIPTS, 'up.sh'), path.join(dir, 'ceph'), String(port)], {
      env: { ...process.env, CEPH_UP_TIMEOUT: '120' },
    });
    const user = JSON.parse(readFileSync(path.join(dir, 'ceph', 's3-user.json'), 'utf8')) as {
      keys: { access_key: string; secret_key: string }[];
    };
    const { access_key: accessKeyId, secret_key: secretAccessKey } = user.keys[0]!;
    const endpoint = `http://127.0.0.1:${port}`;
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    server = {
      dir,
      endpoint,
      accessKeyId,
      secretAccessKey,
      client,
      async makeBucket(name, options = {}) {
        await client.send(
          new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: options.objectLock === true }),
        );
        if (options.versioning === true)
          await client.send(
            new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
          );
      },
    };
    // No hook timeout: up.sh's own bounds are of progress (CEPH_UP_TIMEOUT s without a daemon
    // writing to its log), which a loaded machine stretches without stalling.
  }, 0);
  afterAll(async () => {
    server?.client.destroy();
    if (dir === undefined) return;
    await run('bash', [path.join(SCRIPTS, 'down.sh'), path.join(dir, 'ceph')]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
  return {
    get s3() {
      if (server === undefined) throw new Error('the test S3 server is not started');
      return server;
    },
  };
}
