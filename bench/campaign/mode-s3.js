// The campaign's `s3` mode: a `kind: copy` plan to a bucket with object lock on a real radosgw
// (test/support/ceph/up.sh, one cluster per campaign), reached through a TCP proxy the campaign can
// cut (`link-cut`). Operation `s3-copy` (kill-run, kill-child, link-cut); after each, and at the
// end: no multipart upload left under the prefix, no partial object, nothing outside the prefix
// touched, and every point the bucket holds (fetched from it alone, `sendense-run fetch`) is one a
// backup took and restores to the source's bytes when it was taken (docs/copies.md).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { join, relative, resolve } from 'node:path';
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { freePort } from '../support/free-port.js';
import { listBackups } from './state-checks.js';
import { VM, repositoryLine, sha256File, writeRestorePlan } from './workspace.js';

const CEPH = resolve('test/support/ceph');
const PREFIX = 'hub';
// Objects of another tool: one at the bucket's root, one under a prefix that starts as the plan's does.
const OUTSIDE = ['sentinel', `${PREFIX}x/sentinel`];
const KEY_ID_ENV = 'CAMPAIGN_S3_KEY_ID';
const SECRET_ENV = 'CAMPAIGN_S3_SECRET';

// The mode's draw: s3-copy with its faults (pg-restart too with postgres).
export function s3Tables(mode, operations, faults) {
  operations['s3-copy'] = 6;
  faults['s3-copy'] = ['kill-run', 'kill-run', 'kill-child', 'link-cut', 'link-cut', 'link-cut'];
  if (mode.has('postgres')) faults['s3-copy'].push('pg-restart', 'pg-restart');
}

// A TCP proxy to radosgw whose cut drops every connection and refuses new ones for `downMs`.
async function cuttableProxy(targetPort) {
  const sockets = new Set();
  let downUntil = 0;
  const server = net.createServer((client) => {
    if (Date.now() < downUntil) return void client.destroy();
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: server.address().port,
    // Returns how many connections it dropped.
    // Resolves once new connections are let through again.
    up: () => new Promise((done) => setTimeout(done, Math.max(0, downUntil - Date.now()))),
    cut(downMs) {
      downUntil = Date.now() + downMs;
      const count = sockets.size / 2;
      for (const socket of sockets) socket.destroy();
      return count;
    },
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

// One radosgw for the campaign, its user's keys in the environment every run inherits (the plan
// names the variables), and the proxy the plans reach it through.
export async function startS3(parent) {
  const dir = mkdtempSync(join(parent, 'sendense-campaign-s3-'));
  const port = await freePort();
  execFileSync('bash', [join(CEPH, 'up.sh'), join(dir, 'ceph'), String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CEPH_BLOCK_GIB: '20', CEPH_UP_TIMEOUT: '180' },
  });
  const user = JSON.parse(readFileSync(join(dir, 'ceph', 's3-user.json'), 'utf8')).keys[0];
  process.env[KEY_ID_ENV] = user.access_key;
  process.env[SECRET_ENV] = user.secret_key;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const proxy = await cuttableProxy(port);
  // The harness's own client goes straight to radosgw: a cut is the hub's, not the checker's.
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: user.access_key, secretAccessKey: user.secret_key },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const down = () => execFileSync('bash', [join(CEPH, 'down.sh'), join(dir, 'ceph')], { stdio: 'ignore' });
  return {
    endpoint: `http://127.0.0.1:${proxy.port}`,
    client,
    cut: (downMs) => proxy.cut(downMs),
    up: () => proxy.up(),
    stop: async () => {
      client.destroy();
      await proxy.close();
      down();
      rmSync(dir, { recursive: true, force: true });
    },
    killNow: () => {
      try {
        down();
      } catch {
        // stopped already
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Every version and delete marker of the bucket, as comparable lines, with the current objects.
async function listVersions(client, bucket) {
  const lines = [];
  const current = new Map(); // key -> "etag versionId" of its current version
  let keyMarker;
  let versionIdMarker;
  for (;;) {
    const page = await client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
    );
    for (const version of page.Versions ?? []) {
      lines.push(`${version.Key} ${version.VersionId} ${version.ETag} ${version.Size}`);
      if (version.IsLatest) current.set(version.Key, `${version.ETag} ${version.VersionId}`);
    }
    for (const marker of page.DeleteMarkers ?? []) lines.push(`${marker.Key} ${marker.VersionId} delete-marker`);
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
  return { lines: lines.sort(), current };
}

export class S3Mode {
  // `campaign`: { cli(args, fault, db), violation(kind, detail), whyFailed(result), taken(id) }.
  constructor(campaign) {
    this.campaign = campaign;
    this.server = undefined;
    this.pointsCompared = 0;
    this.checks = 0;
    this.uploadsSeen = 0; // multipart uploads found left after a check's doctor (violations)
  }

  ops() {
    return ['s3-copy'];
  }

  async start(parent) {
    if (!this.server) this.server = await startS3(parent);
    return this.server;
  }

  // A bucket of its own per workspace (object lock, so versioning), with another tool's objects.
  async prepare(ws) {
    const { client } = this.server;
    ws.bucket = `campaign-${randomBytes(6).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: ws.bucket, ObjectLockEnabledForBucket: true }));
    for (const key of OUTSIDE)
      await client.send(new PutObjectCommand({ Bucket: ws.bucket, Key: key, Body: `another tool's ${key}\n` }));
    ws.outside = (await listVersions(client, ws.bucket)).lines;
    ws.s3Plan = join(ws.root, 's3-copy.yaml');
    ws.fetched = join(ws.root, 'fetched');
    ws.s3Db = join(ws.root, 's3.db');
    this.compared = new Map(); // point id -> its chain's objects (etag, version) when it last restored equal
    writeFileSync(
      ws.s3Plan,
      [
        'version: 1',
        'kind: copy',
        'name: campaign-s3',
        `vm: { name: ${VM} }`,
        repositoryLine(ws),
        'copy:',
        '  to:',
        '    type: s3',
        `    endpoint: ${this.server.endpoint}`,
        `    bucket: ${ws.bucket}`,
        `    prefix: ${PREFIX}`,
        `    accessKeyIdEnv: ${KEY_ID_ENV}`,
        `    secretAccessKeyEnv: ${SECRET_ENV}`,
        '    objectLock: { mode: governance, days: 1 }',
        // Merges in the bucket run on the hub; refused for an encrypted repository (docs/copies.md).
        ...(ws.encrypted ? [] : ['  retention: { keepLast: 3 }']),
        '',
      ].join('\n'),
    );
  }

  // A cut link is up again (awaited after every command of the campaign).
  async ready() {
    await this.server?.up();
  }

  // The moment of a link cut: early (a copy prints few lines), the proxy down 0-3 s.
  faultOf(step, rng) {
    if (step.fault !== 'link-cut') return undefined;
    const moment = rng.chance(0.6) ? { event: rng.int(1, 8) } : { delayMs: rng.int(0, 1500) };
    const downMs = rng.int(0, 3000);
    return {
      kind: 'link-cut',
      ...moment,
      // The link down is the fault, whether a connection was open then or not (new ones are refused).
      act: () => {
        const cut = this.server.cut(downMs);
        return `the S3 link (down ${downMs} ms, ${cut} connection${cut === 1 ? '' : 's'} dropped)`;
      },
    };
  }

  // One s3-copy; undefined when there is nothing to copy yet (no repository: it says so, exit 1).
  async step(step, fault, ws) {
    if (!existsSync(join(ws.repository, '.sendense-repository'))) return undefined;
    return this.campaign.cli([ws.s3Plan], fault);
  }

  // After an s3-copy (and doctor when it was faulted) and at the end.
  async check(ws) {
    const { client } = this.server;
    const { violation, cli, whyFailed } = this.campaign;
    this.checks += 1;
    const uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket: ws.bucket }))).Uploads ?? [];
    if (uploads.length > 0)
      throw violation(
        'upload-left',
        `multipart uploads left in the bucket: ${uploads.map((upload) => upload.Key).join(', ')}`,
      );
    const { lines, current } = await listVersions(client, ws.bucket);
    const outside = lines.filter((line) => !line.startsWith(`${PREFIX}/`));
    if (outside.join('\n') !== ws.outside.join('\n'))
      throw violation(
        'outside-touched',
        `objects outside the prefix ${PREFIX}/ changed: ${outside.join('; ')} (were ${ws.outside.join('; ')})`,
      );
    const stray = [...current.keys()].filter((key) => /\.partial$|\.merge$|\.sendense-merge$/.test(key));
    if (stray.length > 0) throw violation('left-behind', `in the bucket: ${stray.join(', ')}`);
    if (!current.has(`${PREFIX}/.sendense-repository`)) return;
    // The fetch directory is kept between checks (a fetch keeps files whose bytes make the
    // object's ETag); a file whose object is gone from the bucket goes first.
    mkdirSync(ws.fetched, { recursive: true });
    for (const name of readdirSync(ws.fetched, { recursive: true })) {
      const file = join(ws.fetched, name);
      if (statSync(file).isFile() && !current.has(`${PREFIX}/${name}`)) rmSync(file);
    }
    const fetched = await cli(['fetch', ws.s3Plan, ws.fetched]);
    if (fetched.exitCode !== 0)
      throw violation('fetch-failed', `fetch of the bucket: exit ${fetched.exitCode}: ${whyFailed(fetched)}`);
    const keyFile = ws.encrypted ? await this.#openingKey(ws) : undefined;
    rmSync(ws.s3Db, { force: true });
    const imported = await cli(
      ['catalog', 'import', ws.fetched, ...(keyFile ? ['--key-file', keyFile] : [])],
      undefined,
      ws.s3Db,
    );
    if (imported.exitCode !== 0)
      throw violation(
        's3-import-failed',
        `catalog import of the fetched bucket: exit ${imported.exitCode}: ${whyFailed(imported)}`,
      );
    const points = await listBackups(ws, ws.s3Db);
    const byId = new Map(points.map((point) => [point.id, point]));
    for (const point of points) {
      if (point.status !== 'complete') continue;
      if (this.campaign.taken(point.id) === undefined)
        throw violation('unknown-point', `the bucket holds ${point.id}, which no backup of this campaign took`);
      const signature = chainObjects(point, byId, ws, current);
      if (this.compared.get(point.id) === signature) continue;
      const target = join(ws.restores, `s3-${point.id}.raw`);
      const restored = await cli(
        [writeRestorePlan(ws, point.id, target, { repository: ws.fetched, keyFile, name: 'restore-s3.yaml' })],
        undefined,
        ws.s3Db,
      );
      try {
        if (restored.exitCode !== 0)
          throw violation(
            's3-restore-failed',
            `point ${point.id} fetched from the bucket: exit ${restored.exitCode}: ${whyFailed(restored)}`,
          );
        this.pointsCompared += 1;
        if ((await sha256File(target)) !== this.campaign.taken(point.id))
          throw violation(
            's3-wrong-bytes',
            `point ${point.id} fetched from the bucket restored to other bytes than the source had`,
          );
      } finally {
        rmSync(target, { force: true });
      }
      this.compared.set(point.id, signature);
    }
  }

  // Encrypted: the first pool key that opens the fetched copy (its keyring may be older than the hub's).
  async #openingKey(ws) {
    for (const keyFile of [ws.planKey, ...ws.keyFiles]) {
      const listed = await this.campaign.cli(['key', 'list', ws.fetched, '--key-file', keyFile]);
      if (listed.exitCode === 0) return keyFile;
    }
    throw this.campaign.violation('s3-unopenable', 'no key of the pool opens the fetched bucket');
  }

  summary() {
    return [`bucket checks: ${this.checks}; points restored from the bucket (fetched): ${this.pointsCompared}`];
  }

  async stop() {
    await this.server?.stop();
    this.server = undefined;
  }

  killNow() {
    this.server?.killNow();
    this.server = undefined;
  }
}

// The objects a point is read through (its chain's files and manifests) as the bucket holds them now.
function chainObjects(point, byId, ws, current) {
  const keys = [];
  for (let at = point; at !== undefined; at = at.parentId ? byId.get(at.parentId) : undefined)
    for (const disk of at.disks) keys.push(disk.file, disk.file.replace(/\.qcow2$/, '.json'));
  return keys
    .map((file) => {
      const key = `${PREFIX}/${relative(ws.fetched, file)}`;
      return `${key}:${current.get(key) ?? 'missing'}`;
    })
    .join('|');
}
