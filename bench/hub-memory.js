// Peak memory of one VM with many small disks: the whole process tree of one `sendense-run`
// (the CLI, every qemu-nbd it starts, the node transfer and its source qemu-nbd), sampled every
// 100 ms, summed (RSS, and PSS which shares library pages fairly), under the default hub budget
// (1.5GiB, 16 disks at once) against an unlimited hub config with today's settings (every disk at
// once, 16 x 2 MiB in flight and 4 connections per disk). BENCH_DISKS (default 100), each
// 256 MiB with 16 MiB of data; BENCH_MEMORY (the budget's `memory`, default the hub default
// 1.5GiB); BENCH_TMPDIR (default /var/tmp). Needs `npm run build`.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { cli, requireBuild } from './support/built.js';
import { scratchDir, trackChild } from './support/scratch.js';

const DISKS = Number(process.env.BENCH_DISKS ?? 100);
requireBuild('hub-memory');
const dir = scratchDir('sendense-bench-hub-memory-');

const disks = Array.from({ length: DISKS }, (_, index) => {
  const file = join(dir, `disk-${index}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '256M']);
  // 16 MiB of data in 4 places (quick to write: qemu-io patterns, not random).
  execFileSync(
    'qemu-io',
    ['-f', 'qcow2', ...[0, 64, 128, 192].flatMap((at) => ['-c', `write -P ${(index % 200) + 1} ${at}M 4M`]), file],
    { stdio: 'ignore' },
  );
  return { key: 2000 + index, file };
});
const basePort = 31000 + Math.floor(Math.random() * 100) * 200;

function writeFiles(name, hub) {
  const plan = join(dir, `${name}.yaml`);
  const lines = [
    'version: 1',
    'kind: backup',
    `name: ${name}`,
    'vm:',
    `  name: vm-${name}`,
    '  source:',
    '    type: qemu',
    '    disks:',
  ];
  for (const disk of disks) lines.push(`      - { key: ${disk.key}, path: ${disk.file} }`);
  lines.push(
    `repository: { path: ${join(dir, `repository-${name}`)} }`,
    `nbd: { ports: ${basePort}-${basePort + DISKS + 20} }`,
    '',
  );
  writeFileSync(plan, lines.join('\n'));
  const config = join(dir, `${name}-hub.yaml`);
  writeFileSync(config, hub);
  return { plan, config };
}

function childrenOf(pid, byParent) {
  const out = [];
  for (const child of byParent.get(pid) ?? []) out.push(child, ...childrenOf(child, byParent));
  return out;
}

// [rss, pss] in bytes of pid and all its descendants, now; `own` keeps the peak RSS of the CLI
// itself and of its largest node transfer.
function treeMemory(root, own) {
  const byParent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!byParent.has(ppid)) byParent.set(ppid, []);
      byParent.get(ppid).push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  let rss = 0;
  let pss = 0;
  let count = 0;
  for (const pid of [root, ...childrenOf(root, byParent)]) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const processRss = Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      const kind =
        pid === root
          ? 'cli'
          : readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sendense-transfer')
            ? 'transfer'
            : '';
      if (kind) own[kind] = Math.max(own[kind], processRss);
      rss += processRss;
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      count++;
    } catch {
      // gone meanwhile
    }
  }
  return { rss, pss, count };
}

async function measure(name, hub) {
  const { plan, config } = writeFiles(name, hub);
  const db = join(dir, `${name}.db`);
  const started = Date.now();
  const child = trackChild(
    spawn(process.execPath, [cli, plan, '--db', db, '--hub-config', config, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const peak = { rss: 0, pss: 0, count: 0 };
  const own = { cli: 0, transfer: 0 };
  const timer = setInterval(() => {
    const now = treeMemory(child.pid, own);
    peak.rss = Math.max(peak.rss, now.rss);
    peak.pss = Math.max(peak.pss, now.pss);
    peak.count = Math.max(peak.count, now.count);
  }, 100);
  const code = await new Promise((resolve) => child.once('close', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${name}: exit ${code}: ${stdout.slice(-1500)} ${stderr.slice(-1500)}`);
  const slots = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .find((event) => event.type === 'slots');
  return { name, seconds: (Date.now() - started) / 1000, ...peak, own, granted: slots?.granted };
}

const mb = (bytes) => (bytes / 1e6).toFixed(0);
console.log(
  `${DISKS} disks of 256 MiB, 16 MiB data each; load average before: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const results = [];
results.push(await measure('unlimited', 'maxParallelDisks: 1000\nmemory: 1000GiB\n'));
const MEMORY = process.env.BENCH_MEMORY;
results.push(
  await measure('budget', MEMORY ? `memory: ${MEMORY}\n` : '# the defaults: maxParallelDisks 16, memory 1.5GiB\n'),
);
for (const r of results) {
  console.log(
    `${r.name.padEnd(10)} peak RSS sum ${mb(r.rss)} MB, peak PSS sum ${mb(r.pss)} MB, up to ${r.count} processes, ${r.granted} slots, ${r.seconds.toFixed(1)} s; peak RSS of the CLI ${mb(r.own.cli)} MB, of a node transfer ${mb(r.own.transfer)} MB`,
  );
}
console.log(`budget: memory ${MEMORY ?? '1.5GiB'}`);
const [today, budget] = results;
console.log(
  `budget / unlimited: RSS ${(budget.rss / today.rss).toFixed(2)}x, PSS ${(budget.pss / today.pss).toFixed(2)}x, time ${(budget.seconds / today.seconds).toFixed(2)}x`,
);
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
