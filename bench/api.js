// The hub API (docs/api.md) side by side with what it wraps, in the same run:
// 1. GET /api/v1/backups?vm=NAME for a VM with 10,000 points (one real backup, the rest cloned rows
//    whose files are hard links of its qcow2): p50/p99 over sequential keep-alive HTTPS requests (to the last byte),
//    against store.listBackups({vm}) in this process and `sendense-run backups --vm NAME --json`
//    as a process.
// 2. 100 SSE clients on one running task (a qemu-source backup with progress events): each event's
//    arrival at each client against its own `time` field, and the same for a `--json` CLI run's
//    stdout read by this process.
// Needs `npm run build`. BENCH_API_POINTS (default 10000), BENCH_API_CHAIN (points per chain,
// default 30: plans' incremental.maxChainLength in examples), BENCH_API_REQUESTS (default 200),
// BENCH_API_CLIENTS (default 100), BENCH_API_REGIONS (8 MiB data regions of the part 2 source,
// default 256 = 2 GiB), BENCH_API_PARTS (list,sse), BENCH_API_ROOT (another checkout's build),
// BENCH_API_FILES=missing (the points' files not there), BENCH_TMPDIR (default /var/tmp).
import { execFileSync, spawn } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { cli as ownCli, requireBuild, root as ownRoot } from './support/built.js';
import { freePort } from './support/free-port.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir, stopChild, trackChild } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const POINTS = Number(process.env.BENCH_API_POINTS ?? 10_000);
const CHAIN = Number(process.env.BENCH_API_CHAIN ?? 30);
const REQUESTS = Number(process.env.BENCH_API_REQUESTS ?? 200);
const CLIENTS = Number(process.env.BENCH_API_CLIENTS ?? 100);
const REGIONS = Number(process.env.BENCH_API_REGIONS ?? 256);
const MISSING = process.env.BENCH_API_FILES === 'missing';
const PARTS = (process.env.BENCH_API_PARTS ?? 'list,sse').split(',');
requireBuild('api');
// BENCH_API_ROOT: another checkout's build to measure (e.g. one from before a change), same bench.
const root = process.env.BENCH_API_ROOT ?? ownRoot;
const cli = process.env.BENCH_API_ROOT ? join(root, 'bin', 'sendense-run.js') : ownCli;
const { openStore } = await import(join(root, 'dist', 'src', 'store', 'index.js'));
const { SqliteDatabase } = await import(join(root, 'dist', 'src', 'store', 'sqlite-driver.js'));
const dir = scratchDir('sendense-bench-api-');
const load = () => loadavg()[0].toFixed(1);
const ms = (value) => `${value.toFixed(1)} ms`;

// The value below which p percent of them lie (nearest rank).
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const figures = (values) => ({ p50: percentile(values, 50), p99: percentile(values, 99), max: Math.max(...values) });
const line = (label, f) =>
  `${label.padEnd(34)} p50 ${ms(f.p50).padStart(10)}  p99 ${ms(f.p99).padStart(10)}  max ${ms(f.max).padStart(10)}`;

const sendense = (db, args) =>
  execFileSync(process.execPath, [cli, '--db', db, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
const addToken = (db, name, role) => sendense(db, ['token', 'add', name, '--role', role]).trim().split('\n').at(-1);

// `sendense-run api` on a free 127.0.0.1 port over HTTPS with its own certificate (pinned as the CA).
async function startApi(db, plans) {
  const port = await freePort();
  const child = trackChild(
    spawn(process.execPath, [cli, '--json', '--db', db, 'api', ...plans, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, CI: '1' },
    }),
  );
  let out = '';
  const listening = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = out.split('\n').find((text) => text.includes('"type":"listening"'));
      if (found) resolve(JSON.parse(found));
    });
    child.once('exit', (code) => reject(new Error(`sendense-run api exited ${code} before listening: ${out}`)));
  });
  const ca = readFileSync(listening.certificate);
  const agent = new Agent({ keepAlive: true, ca, maxSockets: Infinity });
  return { url: listening.url, ca, agent, pid: child.pid, stop: () => stopChild(child) };
}

// `gzip`: asked for as a browser asks (Accept-Encoding: gzip), and unpacked here, to the last byte.
function get(api, token, route, { onResponse, gzip = false } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${token}`, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) };
    const req = request(`${api.url}${route}`, { agent: api.agent, headers }, (res) => {
      if (onResponse) return onResponse(res, resolve, reject);
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode !== 200) return reject(new Error(`GET ${route}: HTTP ${res.statusCode} ${body}`));
        if (gzip && res.headers['content-encoding'] !== 'gzip') return reject(new Error(`GET ${route}: not gzipped`));
        resolve(gzip ? gunzipSync(body) : body);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

console.log(`machine: ${cpus().length} cores, load average ${load()} at the start`);

if (PARTS.includes('list')) await listBench();
if (PARTS.includes('sse')) await sseBench();
console.log(`load average ${load()} at the end`);

// 1. One VM's points.
async function listBench() {
  const here = join(dir, 'list');
  mkdirSync(here);
  const source = join(here, 'source.qcow2');
  makeSourceImage(source, { regions: 1, size: 64 * MiB });
  const repository = join(here, 'repository');
  const db = join(here, 'state.db');
  const plan = writeLocalPlan(join(here, 'bench-list.yaml'), {
    name: 'bench-list',
    source,
    repository,
    ports: benchPorts(),
  });
  await timedRun([process.execPath, cli, plan, '--db', db, '--json']);
  const seeded = Date.now();
  seedPoints(db, POINTS, CHAIN);
  console.log(
    `\n-- GET /api/v1/backups?vm=benchvm: ${POINTS} points (chains of ${CHAIN}, one disk each, files ${MISSING ? 'missing' : 'present'}), seeded in ${Date.now() - seeded} ms`,
  );

  const token = addToken(db, 'bench', 'audit');
  const api = await startApi(db, [plan]);
  const route = '/api/v1/backups?vm=benchvm';
  const store = await openStore(db);
  const direct = async () => (await store.listBackups({ vm: 'benchvm' })).length;
  // Timed to the answer's last byte: parsing 8 MB of JSON is the client's work, not the API's.
  const answered = (gzip = false) => get(api, token, route, { gzip });
  const viaApi = async (gzip) => JSON.parse(await answered(gzip)).backups.length;
  // Warm-up (JIT, page cache, the server's first store open), and the answers agree.
  for (let i = 0; i < 5; i++) {
    const [a, b, c] = [await direct(), await viaApi(false), await viaApi(true)];
    if (a !== POINTS || b !== POINTS || c !== POINTS)
      throw new Error(`expected ${POINTS} points, got ${a} direct, ${b} from the API and ${c} gzipped`);
  }
  const apiMs = [];
  const gzipMs = [];
  const directMs = [];
  // Alternating, so all see the same load.
  for (let i = 0; i < REQUESTS; i++) {
    let t = performance.now();
    await answered();
    apiMs.push(performance.now() - t);
    t = performance.now();
    await answered(true);
    gzipMs.push(performance.now() - t);
    t = performance.now();
    await direct();
    directMs.push(performance.now() - t);
  }
  const cliMs = [];
  const cliRuns = Math.max(5, Math.round(REQUESTS / 20));
  for (let i = 0; i < cliRuns; i++)
    cliMs.push(
      (await timedRun([process.execPath, cli, '--db', db, 'backups', '--vm', 'benchvm', '--json'])).seconds * 1000,
    );
  await store.close();
  await api.stop();
  const a = figures(apiMs);
  const g = figures(gzipMs);
  const d = figures(directMs);
  console.log(line(`API (${REQUESTS} requests)`, a));
  console.log(line(`API, gzip as browsers ask (${REQUESTS})`, g));
  console.log(line(`store.listBackups (${REQUESTS})`, d));
  console.log(line(`backups --json process (${cliRuns})`, figures(cliMs)));
  console.log(
    `API / direct: p50 ${(a.p50 / d.p50).toFixed(2)}x, p99 ${(a.p99 / d.p99).toFixed(2)}x; gzip: p50 ${(g.p50 / d.p50).toFixed(2)}x, p99 ${(g.p99 / d.p99).toFixed(2)}x (aim: p99 <= 50 ms and <= 2x); load average ${load()}`,
  );
}

// POINTS points of VM benchvm in one transaction: the real backup's row cloned into chains of CHAIN
// points (a full, then incrementals on the previous point), each disk file a hard link of its qcow2
// in the repository (so the restorability checks read real headers), started one minute apart.
function seedPoints(db, count, chain) {
  const sqlite = new SqliteDatabase(db);
  const real = sqlite.prepare("select * from backups where status = 'complete'").get();
  const disk = sqlite.prepare('select * from backup_disks where backup_id = ?').get(real.id);
  const insertBackup = sqlite.prepare(
    'insert into backups (id, vm, plan, type, chain_id, parent_id, status, repository, started_at, completed_at, bytes, run_id, verified_at, damage, seq, protected) values (@id, @vm, @plan, @type, @chain_id, @parent_id, @status, @repository, @started_at, @completed_at, @bytes, @run_id, @verified_at, @damage, @seq, @protected)',
  );
  const insertDisk = sqlite.prepare(
    'insert into backup_disks (backup_id, disk_key, file, virtual_size, change_id, bytes, status, source, source_node, bitmap, manifest) values (@backup_id, @disk_key, @file, @virtual_size, @change_id, @bytes, @status, @source, @source_node, @bitmap, @manifest)',
  );
  const files = join(dirname(disk.file), 'bench-points');
  mkdirSync(files);
  const start = Date.parse(real.started_at);
  let parent = null;
  let chainId = null;
  sqlite.transaction(() => {
    for (let i = 1; i < count; i++) {
      const id = `bench-${String(i).padStart(6, '0')}`;
      const full = (i - 1) % chain === 0;
      chainId = full ? id : chainId;
      const at = (minutes) => new Date(start + i * 60_000 + minutes * 1000).toISOString();
      insertBackup.run({
        ...real,
        id,
        type: full ? 'full' : 'incremental',
        chain_id: chainId,
        parent_id: full ? null : parent,
        started_at: at(0),
        completed_at: at(5),
        seq: real.seq + i,
      });
      const file = join(files, `${id}-2000.qcow2`);
      if (!MISSING) linkSync(disk.file, file);
      insertDisk.run({ ...disk, backup_id: id, file, change_id: `bench-${i}` });
      parent = id;
    }
  })();
  sqlite.close();
}

// 2. Event delay: 100 SSE clients on one run task, and a CLI run's own stdout.
async function sseBench() {
  const here = join(dir, 'sse');
  mkdirSync(here);
  const source = join(here, 'source.qcow2');
  makeSourceImage(source, { regions: REGIONS, size: REGIONS * 16 * MiB });
  const ports = benchPorts();
  const bitmaps = () =>
    (
      JSON.parse(execFileSync('qemu-img', ['info', '--output=json', source], { encoding: 'utf8' }))['format-specific']
        ?.data?.bitmaps ?? []
    ).map((b) => b.name);
  const dropBitmaps = () => bitmaps().forEach((name) => execFileSync('qemu-img', ['bitmap', '--remove', source, name]));
  console.log(
    `\n-- ${CLIENTS} SSE clients on one run task: a full backup of ${REGIONS * 8} MiB of data (progress every 250 ms)`,
  );

  // Reference: the same run as a CLI process, its stdout read here as it comes.
  const cliDb = join(here, 'cli.db');
  const cliPlan = writeLocalPlan(join(here, 'bench-sse-cli.yaml'), {
    name: 'bench-sse-cli',
    source,
    repository: join(here, 'cli-repository'),
    ports,
  });
  const cliDelays = await new Promise((resolve, reject) => {
    const child = trackChild(
      spawn(process.execPath, [cli, cliPlan, '--db', cliDb, '--json'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, CI: '1' },
      }),
    );
    const delays = [];
    let pending = '';
    child.stdout.on('data', (chunk) => {
      const now = Date.now();
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const text of lines) if (text.startsWith('{')) delays.push(now - Date.parse(JSON.parse(text).time));
    });
    child.once('close', (code) => (code === 0 ? resolve(delays) : reject(new Error(`CLI run exited ${code}`))));
  });
  dropBitmaps();

  const db = join(here, 'api.db');
  const plan = writeLocalPlan(join(here, 'bench-sse.yaml'), {
    name: 'bench-sse',
    source,
    repository: join(here, 'api-repository'),
    ports,
  });
  const operator = addToken(db, 'bench-operator', 'operator');
  const audit = addToken(db, 'bench-audit', 'audit');
  const api = await startApi(db, [plan]);
  const started = await new Promise((resolve, reject) => {
    const req = request(
      `${api.url}/api/v1/plans/bench-sse/run`,
      { method: 'POST', agent: api.agent, headers: { authorization: `Bearer ${operator}` } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () =>
          res.statusCode === 202 ? resolve(JSON.parse(body)) : reject(new Error(`run: HTTP ${res.statusCode} ${body}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
  const taskId = started.id ?? started.task?.id;
  // Every client from the first event on (Last-Event-ID none): events already written when a client
  // connects are not counted (their delay is the client's late start, not the stream's).
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => follow(api, audit, taskId)));
  const live = clients.flatMap((client) => client.delays.map(([, delay]) => delay));
  // Once every client's stream is open (the 100 TLS handshakes compete with the run's first events).
  const allOpen = Math.max(...clients.map((client) => client.open));
  const steady = clients.flatMap((client) =>
    client.delays.filter(([time]) => time >= allOpen).map(([, delay]) => delay),
  );
  const perEvent = clients[0].count;
  await api.stop();
  dropBitmaps();
  const c = figures(cliDelays);
  const s = figures(live);
  console.log(line(`CLI --json stdout (${cliDelays.length} events)`, c));
  console.log(line(`${CLIENTS} SSE clients (${live.length} arrivals)`, s));
  console.log(line(`  once all ${CLIENTS} were open (${steady.length})`, figures(steady)));
  console.log(
    `events per client: ${perEvent}; SSE p99 ${ms(s.p99)} (aim <= 100 ms), ${(s.p50 - c.p50).toFixed(1)} ms over the CLI's own pipe at p50; load average ${load()}`,
  );
}

// One SSE client: [time, arrival minus time] of each event written after it asked; when its stream opened.
function follow(api, token, taskId) {
  const connected = Date.now();
  return get(api, token, `/api/v1/tasks/${taskId}/events`, {
    onResponse(res, resolve, reject) {
      if (res.statusCode !== 200) return reject(new Error(`events: HTTP ${res.statusCode}`));
      const delays = [];
      const open = Date.now();
      let count = 0;
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const now = Date.now();
        pending += chunk;
        const blocks = pending.split('\n\n');
        pending = blocks.pop();
        for (const block of blocks) {
          const data = block.split('\n').find((text) => text.startsWith('data: '));
          if (data === undefined || block.includes('event: end')) continue;
          count++;
          const time = Date.parse(JSON.parse(data.slice(6)).time);
          if (time >= connected) delays.push([time, now - time]);
        }
      });
      res.on('end', () => resolve({ delays, count, open }));
      res.on('error', reject);
    },
  });
}
