// A VMware full against curl, on a SIMULATED vSphere (govmomi's vcsim behind the tests' CBT proxy,
// test/support/vcsim.ts and vsphere-cbt-proxy.ts: VMware itself is faked, its datastore's HTTPS
// file access with ranges is real). Ours: a whole `sendense-run` full of one disk, timed from spawn
// to exit and its `transfer` step alone (the ranged GETs, the writes into the new qcow2, the
// digests). curl: the same areas of the same data file, cut into the same 2 MiB ranges, through
// the same proxy and TLS, with several requests in flight (`--parallel`), written to /dev/null.
// The ratio is curl's time over our transfer step's (above 1: we read faster than curl).
// BENCH_DISK_MIB (default 1024) with BENCH_DATA_MIB of random data in two runs (default 512);
// BENCH_RUNS (default 3) alternating after one warm-up each; BENCH_CURL_PARALLEL (default 4);
// BENCH_TMPDIR. Needs `npm run build` and the simulator (scripts/setup.sh: Go and govmomi's source).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cli, requireBuild, root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { alternatingRounds } from './support/alternating-rounds.js';
import { scratchDir } from './support/scratch.js';
import { median } from './support/stats.js';
import { stepTimes } from './support/step-times.js';
import { timedRun } from './support/timed-run.js';

requireBuild('vmware');
const MiB = 1024 * 1024;
const DISK_MIB = Number(process.env.BENCH_DISK_MIB ?? 1024);
const DATA_MIB = Number(process.env.BENCH_DATA_MIB ?? 512);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CURL_PARALLEL = Number(process.env.BENCH_CURL_PARALLEL ?? 4);
const REQUEST = 2 * MiB;
const USER = 'backup@vsphere.local';
const PASSWORD = 'bench-Vc-sim pa55';
const KEY = 2000;

const dir = scratchDir('sendense-bench-vmware-');
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const sim = await import(
  await bundle(join(root, 'bench/support/vmware-sim.ts'), join(root, 'bench', 'out', 'vmware-sim.mjs'), {
    packages: 'external',
  })
);
const missing = sim.vcsimMissing();
if (missing !== undefined) throw new Error(`the simulated vSphere needs ${missing} (scripts/setup.sh installs it)`);

// The proxy keeps copies of the disk file in a temp directory of its own: in the scratch directory,
// removed with it whatever way the bench ends.
process.env.TMPDIR = dir;
const cert = sim.makeCertificate(dir);
const vcsim = await sim.startVcsim({
  cert: cert.cert,
  key: cert.key,
  username: USER,
  password: PASSWORD,
  disks: new Map([[KEY, DISK_MIB * MiB]]),
});
const proxy = await sim.startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
// The simulator ends with its stdin, closed when this process ends however it ends.
process.on('exit', () => void vcsim.stop());

// Two runs of random data, half the data each: at the start and in the middle of the disk.
const disk = vcsim.disks[0];
const half = Math.floor(DATA_MIB / 2);
const areas = [
  { offset: 0, length: half * MiB },
  { offset: Math.floor(DISK_MIB / 2) * MiB, length: (DATA_MIB - half) * MiB },
];
for (const area of areas)
  execFileSync('dd', [
    'if=/dev/urandom',
    `of=${disk.flat}`,
    'bs=1M',
    `seek=${area.offset / MiB}`,
    `count=${area.length / MiB}`,
    'conv=notrunc,fsync',
    'status=none',
  ]);
const bytes = areas.reduce((sum, area) => sum + area.length, 0);

// curl's requests: the data file through the proxy, with the session cookie of a login of our own.
const session = await sim.openSession(proxy.endpoint, cert.sha256, USER, PASSWORD);
const flatPath = disk.fileName.replace(/^\[[^\]]+\] /, '').replace(/\.vmdk$/, '-flat.vmdk');
const url = sim.datastoreUrl(`https://${proxy.endpoint}`, 'DC0', 'LocalDS_0', flatPath);
const curlConfig = join(dir, 'curl.conf');
const entries = [];
for (const area of areas)
  for (let at = area.offset; at < area.offset + area.length; at += REQUEST) {
    const to = Math.min(at + REQUEST, area.offset + area.length) - 1;
    entries.push(
      [
        `url = "${url}"`,
        `range = "${at}-${to}"`,
        'output = "/dev/null"',
        `header = "Cookie: ${session.cookie}"`,
        `cacert = "${cert.cert}"`,
        'fail',
      ].join('\n'),
    );
  }
writeFileSync(curlConfig, `parallel\nparallel-max = ${CURL_PARALLEL}\n${entries.join('\nnext\n')}\n`, { mode: 0o600 });

function planFile(name) {
  const file = join(dir, `${name}.yaml`);
  const plan = {
    version: 1,
    kind: 'incremental',
    name: 'vmw-bench',
    vm: {
      name: 'vmw',
      source: {
        type: 'vmware',
        endpoint: proxy.endpoint,
        username: USER,
        passwordEnv: 'BENCH_VCENTER_PASSWORD',
        path: vcsim.vmPath,
        certificateSha256: cert.sha256,
        disks: [{ key: KEY }],
      },
    },
    repository: { path: join(dir, `${name}-repository`) },
  };
  writeFileSync(file, stringify(plan));
  return file;
}

const results = { ours: [], curl: [] };
let round = 0;
console.log(
  `VMware full of one ${DISK_MIB} MiB disk with ${DATA_MIB} MiB of data (simulated vSphere); load average before: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
await alternatingRounds(RUNS, ['ours', 'curl'], async (tool, run) => {
  if (tool === 'curl') {
    const timed = await timedRun(['curl', '--silent', '--show-error', '--config', curlConfig]);
    if (run >= 0) results.curl.push({ seconds: timed.seconds });
    return;
  }
  round += 1;
  const plan = planFile(`full-${round}`);
  const timed = await timedRun([process.execPath, cli, plan, '--db', join(dir, `full-${round}.db`), '--json'], {
    env: { ...process.env, BENCH_VCENTER_PASSWORD: PASSWORD },
  });
  vcsim.repairDescriptors();
  const { times } = stepTimes(timed.stdout, timed.started, timed.ended);
  if (run >= 0) results.ours.push({ seconds: timed.seconds, transfer: times.transfer });
});
await session.close();

const ours = median(results.ours.map((r) => r.transfer));
const whole = median(results.ours.map((r) => r.seconds));
const theirs = median(results.curl.map((r) => r.seconds));
const rate = (seconds) => `${(bytes / MiB / seconds).toFixed(0)} MiB/s`;
console.log(`ours, transfer step: ${ours.toFixed(2)} s (${rate(ours)}); whole run ${whole.toFixed(2)} s`);
console.log(`curl, ${CURL_PARALLEL} in flight: ${theirs.toFixed(2)} s (${rate(theirs)})`);
console.log(
  `ours / curl throughput: ${(theirs / ours).toFixed(2)}x (pairs ${results.ours
    .map((r, index) => (results.curl[index].seconds / r.transfer).toFixed(2))
    .join(' ')})`,
);
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
await proxy.close();
await vcsim.stop();
// Anything else still open (the session's agent) would keep this process alive.
process.exit(0);
