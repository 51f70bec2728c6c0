// Copies off the hub (docs/copies.md): a repository holding one point of a disk with 1 GiB of
// random data, copied to a fresh path over SSH (a throw-away sshd on 127.0.0.1, aes128-gcm) by a
// copy plan (verify: false, so only the copy itself is timed; verify: true once, for its cost),
// against rsync of the same repository over the same sshd (with and without --fsync: a copy
// fsyncs every file). Warm-up, alternating rounds, medians. Then an incremental point (1% of the
// disk in scattered 64 KiB writes): the bytes the next copy sent against the point's file.
// BENCH_RUNS=N rounds (default 3), BENCH_GIB=N of data (default 1), BENCH_TMPDIR (default /var/tmp);
// BENCH_BEFORE_ROOT: another checkout's build (e.g. one from before a change) timed in the same rounds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { startSshd } from './support/sshd.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('copy');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 1);
const MiB = 1024 * 1024;
const dir = scratchDir('sendense-bench-copy-');
const db = join(dir, 'state.db');
const repository = join(dir, 'repository');
mkdirSync(join(dir, 'sshd'));
const sshd = await startSshd(join(dir, 'sshd'));
process.on('exit', () => sshd.stop());
const node = {
  host: '127.0.0.1',
  port: sshd.port,
  user: sshd.user,
  identityFile: sshd.identityFile,
  knownHosts: sshd.knownHosts,
};
const env = { ...process.env, CI: '1' };

// The repository: one full point of a disk with DATA_GIB of random data (8 MiB regions, 8 MiB holes).
const image = join(dir, 'source.qcow2');
const virtualSize = makeSourceImage(image, { regions: DATA_GIB * 128 });
const backupPlan = join(dir, 'backup.yaml');
writeFileSync(
  backupPlan,
  stringify({
    version: 1,
    kind: 'incremental',
    name: 'bench-backup',
    vm: { name: 'benchvm', source: { type: 'qemu', disks: [{ key: 2000, path: image, format: 'qcow2' }] } },
    repository: { path: repository },
  }),
);
await timedRun([process.execPath, cli, backupPlan, '--db', db], { env });
const repositoryBytes = Number(execFileSync('du', ['-sb', repository], { encoding: 'utf8' }).split('\t')[0]);

const copyPlan = (name, to, verify) => {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'copy',
      name,
      repository: { path: repository },
      copy: { to: { type: 'ssh', node, path: to }, verify },
    }),
  );
  return file;
};
const ssh = `ssh -c aes128-gcm@openssh.com -o BatchMode=yes -o UserKnownHostsFile=${sshd.knownHosts} -i ${sshd.identityFile} -p ${sshd.port}`;
const target = join(dir, 'target');
const fresh = () => rmSync(target, { recursive: true, force: true });
const copyRun = async (program) =>
  (await timedRun([process.execPath, program, copyPlan('bench-copy', target, false), '--db', db, '--quiet'], { env }))
    .seconds;
const before = process.env.BENCH_BEFORE_ROOT;
const tools = {
  ours: () => copyRun(cli),
  ...(before !== undefined && { before: () => copyRun(join(before, 'bin', 'sendense-run.js')) }),
  rsync: async () =>
    (await timedRun(['rsync', '-a', '-e', ssh, `${repository}/`, `${sshd.user}@127.0.0.1:${target}/`])).seconds,
  'rsync --fsync': async () =>
    (await timedRun(['rsync', '-a', '--fsync', '-e', ssh, `${repository}/`, `${sshd.user}@127.0.0.1:${target}/`]))
      .seconds,
};
const times = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
const mib = repositoryBytes / MiB;
console.log(
  `copy of a repository of ${mib.toFixed(0)} MiB (one point) to a fresh path over SSH (127.0.0.1, aes128-gcm), ${RUNS} rounds after a warm-up, alternating`,
);
console.log(`load average before: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
await alternatingRounds(RUNS, Object.keys(tools), async (name, round) => {
  fresh();
  const seconds = await tools[name]();
  if (round < 0) return;
  times[name].push(seconds);
  console.log(
    `  ${name.padEnd(13)} ${seconds.toFixed(2)} s  ${(mib / seconds).toFixed(0)} MiB/s  (load ${loadavg()[0].toFixed(1)})`,
  );
});
const ours = median(times.ours);
for (const name of Object.keys(tools)) {
  const seconds = median(times[name]);
  console.log(
    `median ${name.padEnd(13)} ${seconds.toFixed(2)} s (${spread(times[name])}), ${(mib / seconds).toFixed(0)} MiB/s${name === 'ours' ? '' : `: ours at ${(seconds / ours).toFixed(2)}x its throughput`}`,
  );
}

fresh();
const verified = (
  await timedRun([process.execPath, cli, copyPlan('bench-copy-verified', target, true), '--db', db, '--quiet'], { env })
).seconds;
console.log(
  `with verify: true (each hub file checked against its manifest first): ${verified.toFixed(2)} s, ${(mib / verified).toFixed(0)} MiB/s`,
);

// An incremental point: 1% of the disk in scattered 64 KiB writes, then the next copy.
const writes = [];
for (let at = 0; at + 64 * 1024 <= virtualSize; at += 100 * 64 * 1024)
  writes.push('-c', `write -P 0x${(writes.length % 200).toString(16)} ${at} 64k`);
execFileSync('qemu-io', [...writes, image], { stdio: 'ignore' });
await timedRun([process.execPath, cli, backupPlan, '--db', db], { env });
const incremental = await timedRun(
  [process.execPath, cli, copyPlan('bench-copy', target, false), '--db', db, '--json'],
  { env },
);
const done = incremental.stdout
  .split('\n')
  .filter((line) => line.startsWith('{'))
  .map((line) => JSON.parse(line))
  .find((event) => event.type === 'step-done' && event.step === 'send-points');
const pointFile = execFileSync('sh', ['-c', `ls -t ${join(repository, 'benchvm', 'disk-2000')}/*.qcow2 | head -1`], {
  encoding: 'utf8',
}).trim();
const changed = (writes.length / 2) * 64 * 1024;
console.log(
  `incremental point (${(changed / MiB).toFixed(1)} MiB changed): ${(done.facts.bytes / MiB).toFixed(2)} MiB sent (its file ${(statSync(pointFile).size / MiB).toFixed(2)} MiB), ` +
    `${done.facts.pointsThere} point already there, ${incremental.seconds.toFixed(2)} s`,
);
console.log(`load average after: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
// The sshd would keep the bench alive: stopped here (and on a failure, when the bench exits).
await sshd.stop();
