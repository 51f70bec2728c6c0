// Restore throughput: `sendense-run` restoring the latest point of a chain (full + 1 incremental,
// 4 GiB virtual, 2 GiB of data) into a qcow2 file on this host, and into a qcow2 served by
// qemu-nbd (the node transfer's path, as for a remote node), against `qemu-img convert -O qcow2`
// of the same chain (its default cache=unsafe, and -t writeback, which flushes like we do);
// warm-up, rotating order, medians, throughput ratios (aim >= 0.8x). And a verified restore
// (verify: true) against convert + `qemu-img compare` of the same copy (aim <= 1.25x the time), and
// a verified restore to a node against the same restore unverified.
// Needs `npm run build`.
// BENCH_RUNS=N for more runs, BENCH_TMPDIR for where the images go (default /var/tmp).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli as bin, requireBuild } from './support/built.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';
import { openSshRemoteForward, startSshd } from './support/sshd.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
requireBuild('restore');
const dir = scratchDir('sendense-bench-restore-');
const db = join(dir, 'state.db');

// Wall seconds; the CPU seconds (user + sys) of the command and the children it waited for, and of
// the NBD target's qemu-nbd, go into `cpu` for the line of that run.
let cpu = '';
const timed = async (argv) => {
  const run = await timedRun(['/usr/bin/time', '-f', 'cpu %U %S', ...argv], {
    stdin: 'ignore',
    env: { ...process.env, CI: '1' },
  });
  const [user, sys] = run.stderr.trim().split('\n').pop().split(' ').slice(1).map(Number);
  cpu = `CPU ${(user + sys).toFixed(2)} s`;
  return run.seconds;
};
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const targetCpu = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  cpu += `, target qemu-nbd ${((Number(fields[11]) + Number(fields[12])) / ticksPerSecond).toFixed(2)} s`;
};
const sendenseRun = (...args) => timed([process.execPath, bin, ...args, '--db', db, '--quiet']);
const rate = (seconds) => `${((2 * GiB) / MiB / seconds).toFixed(0)} MiB/s`;

// The VM's disk: 224 regions of 8 MiB random data, each followed by an 8 MiB hole (1.75 GiB).
const source = join(dir, 'source.qcow2');
makeSourceImage(source, { regions: 224, size: 4 * GiB });
const yaml = (lines) => `${lines.join('\n')}\n`;
const backupPlan = join(dir, 'bench-backup.yaml');
writeFileSync(
  backupPlan,
  yaml([
    'version: 1',
    'kind: incremental',
    'name: bench-backup',
    'vm:',
    '  name: benchvm',
    '  source:',
    '    type: qemu',
    '    disks:',
    '      - key: 2000',
    `        path: ${source}`,
    'repository:',
    `  path: ${join(dir, 'repository')}`,
    'nbd:',
    '  ports: 30500-30539',
  ]),
);
const fullSeconds = await sendenseRun(backupPlan);
// The incremental: 32 new 8 MiB regions in former holes (256 MiB), so the chain holds 2 GiB of data.
const writes = Array.from({ length: 32 }, (_, index) => [
  '-c',
  `write -P 0x${(index + 16).toString(16)} ${(index * 7 * 16 + 8) * MiB} 8M`,
]).flat();
execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
const incrementalSeconds = await sendenseRun(backupPlan);
const top = JSON.parse(
  execFileSync(process.execPath, [bin, 'backups', '--json', '--db', db], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1),
).disks[0].file;
console.log(
  `chain: full ${fullSeconds.toFixed(1)} s + incremental ${incrementalSeconds.toFixed(1)} s (taken with sendense-run); top ${top}`,
);

const out = join(dir, 'restore');
mkdirSync(out);
function restorePlan(name, target, verify = false, node = []) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    yaml([
      'version: 1',
      'kind: restore',
      `name: ${name}`,
      'vm: { name: benchvm }',
      `repository: { path: ${join(dir, 'repository')} }`,
      'nbd:',
      '  ports: 30500-30539',
      ...node,
      'restore:',
      '  point: latest',
      '  disks: [2000]',
      '  target:',
      ...target,
      `  verify: ${verify}`,
    ]),
  );
  return file;
}
// A node reached over SSH (an sshd on 127.0.0.1): the restore runs the node transfer there, reading
// the chain from the hub's qemu-nbd through the SSH tunnel.
const sshd = await startSshd(dir);
const sshNode = [
  'node:',
  '  host: 127.0.0.1',
  `  port: ${sshd.port}`,
  `  user: ${sshd.user}`,
  `  identityFile: ${sshd.identityFile}`,
  `  knownHosts: ${sshd.knownHosts}`,
];
const ours = join(out, 'ours-2000.qcow2');
const fileTarget = [
  '    type: file',
  `    path: ${join(out, 'ours-{key}.qcow2')}`,
  '    format: qcow2',
  '    overwrite: true',
];
const filePlan = restorePlan('bench-restore-file', fileTarget);
const verifiedFile = join(out, 'verified-2000.qcow2');
const verifiedPlan = restorePlan(
  'bench-restore-verified',
  ['    type: file', `    path: ${join(out, 'verified-{key}.qcow2')}`, '    format: qcow2', '    overwrite: true'],
  true,
);
// The same file restore to the node (the sshd's host), without and with verify: the verified one
// reads the restored file once on the node against the digests; the chain does not cross the tunnel again.
const sshFile = (name) => [
  '    type: file',
  `    path: ${join(out, `${name}-{key}.qcow2`)}`,
  '    format: qcow2',
  '    overwrite: true',
];
const sshFilePlan = restorePlan('bench-restore-ssh-file', sshFile('ssh-file'), false, sshNode);
const sshVerifiedPlan = restorePlan('bench-restore-ssh-verified', sshFile('ssh-verified'), true, sshNode);

// A fresh qcow2 served read-write by qemu-nbd on 127.0.0.1 (started and stopped outside the timing).
const nbdTarget = (file) => startQemuNbdTarget(freshQcow2(file, { size: 4 * GiB }));
const viaNbd = join(out, 'nbd.qcow2');
const convertedNbd = join(out, 'convert-nbd.qcow2');
const viaSsh = join(out, 'ssh.qcow2');
const convertedSsh = join(out, 'convert-ssh.qcow2');
const converted = join(out, 'convert.qcow2');
const convertedWb = join(out, 'convert-wb.qcow2');
const convertedCompared = join(out, 'convert-compare.qcow2');
const tools = {
  'sendense-run file': () => (rmSync(ours, { force: true }), sendenseRun(filePlan)),
  'sendense-run nbd': async () => {
    const target = await nbdTarget(viaNbd);
    try {
      const seconds = await sendenseRun(restorePlan('bench-restore-nbd', ['    type: nbd', `    url: ${target.url}`]));
      targetCpu(target.pid);
      return seconds;
    } finally {
      await target.stop();
    }
  },
  // The same target kind as 'sendense-run nbd': qemu-img writing into the NBD export, flushed at the end.
  'convert -> nbd': async () => {
    const target = await nbdTarget(convertedNbd);
    try {
      const seconds = await timed([
        'qemu-img',
        'convert',
        '-n',
        '-t',
        'writeback',
        '-f',
        'qcow2',
        top,
        '-O',
        'raw',
        target.url,
      ]);
      targetCpu(target.pid);
      return seconds;
    } finally {
      await target.stop();
    }
  },
  'ssh: sendense-run nbd': async () => {
    const target = await nbdTarget(viaSsh);
    try {
      const seconds = await sendenseRun(
        restorePlan('bench-restore-ssh', ['    type: nbd', `    url: ${target.url}`], false, sshNode),
      );
      targetCpu(target.pid);
      return seconds;
    } finally {
      await target.stop();
    }
  },
  // The same path for qemu-img: the chain served read-only by qemu-nbd on the hub, an OpenSSH
  // remote forward to the node, qemu-img on the node reading through it into the node's target.
  // qemu-nbd and the forward start outside the timing (ours starts both inside).
  'ssh: convert -> nbd': async () => {
    const target = await nbdTarget(convertedSsh);
    const chain = await startQemuNbdTarget(top, { readOnly: true });
    const forward = await openSshRemoteForward(sshd, chain.port);
    try {
      const seconds = await timed([
        'qemu-img',
        'convert',
        '-n',
        '-t',
        'writeback',
        '-f',
        'raw',
        `nbd://127.0.0.1:${forward.nodePort}/target`,
        '-O',
        'raw',
        target.url,
      ]);
      targetCpu(target.pid);
      return seconds;
    } finally {
      await forward.stop();
      await chain.stop();
      await target.stop();
    }
  },
  'qemu-img convert': () => (
    rmSync(converted, { force: true }),
    timed(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', top, converted])
  ),
  'convert -t writeback': () => (
    rmSync(convertedWb, { force: true }),
    timed(['qemu-img', 'convert', '-t', 'writeback', '-f', 'qcow2', '-O', 'qcow2', top, convertedWb])
  ),
  'ssh: sendense-run file': () => (rmSync(join(out, 'ssh-file-2000.qcow2'), { force: true }), sendenseRun(sshFilePlan)),
  'ssh: sendense-run verified': () => (
    rmSync(join(out, 'ssh-verified-2000.qcow2'), { force: true }),
    sendenseRun(sshVerifiedPlan)
  ),
  // A verified restore (the default) against the same copy checked the plain way: convert, then compare.
  'sendense-run verified': () => (rmSync(verifiedFile, { force: true }), sendenseRun(verifiedPlan)),
  'convert + compare': async () => {
    rmSync(convertedCompared, { force: true });
    const copy = await timed([
      'qemu-img',
      'convert',
      '-t',
      'writeback',
      '-f',
      'qcow2',
      '-O',
      'qcow2',
      top,
      convertedCompared,
    ]);
    const copyCpu = cpu;
    const seconds =
      copy + (await timed(['qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'qcow2', top, convertedCompared]));
    cpu = `${copyCpu} + compare ${cpu}`;
    return seconds;
  },
};
// BENCH_TOOLS=name,name runs only those (e.g. 'sendense-run nbd,convert -> nbd').
const names = Object.keys(tools).filter(
  (name) => !process.env.BENCH_TOOLS || process.env.BENCH_TOOLS.split(',').includes(name),
);
const times = Object.fromEntries(names.map((name) => [name, []]));
console.log(
  `restore of the latest point (4 GiB virtual, 2 GiB data) into a new qcow2: one warm-up round, then ${RUNS} rounds, order rotating`,
);
for (let round = -1; round < RUNS; round++) {
  const order = names.map((_, index) => names[(index + Math.max(round, 0)) % names.length]);
  for (const name of order) {
    const seconds = await tools[name]();
    if (round < 0) continue;
    times[name].push(seconds);
    console.log(`  ${name.padEnd(24)}${seconds.toFixed(2)} s  ${rate(seconds)}  ${cpu}`);
  }
}
const results = {
  'sendense-run file': ours,
  'sendense-run nbd': viaNbd,
  'convert -> nbd': convertedNbd,
  'ssh: sendense-run nbd': viaSsh,
  'ssh: convert -> nbd': convertedSsh,
  'qemu-img convert': converted,
  'convert -t writeback': convertedWb,
  'sendense-run verified': verifiedFile,
  'convert + compare': convertedCompared,
  'ssh: sendense-run file': join(out, 'ssh-file-2000.qcow2'),
  'ssh: sendense-run verified': join(out, 'ssh-verified-2000.qcow2'),
};
for (const name of names) execFileSync('qemu-img', ['compare', '-q', source, results[name]]);
const medians = Object.fromEntries(names.map((name) => [name, median(times[name])]));
for (const name of names) console.log(`median ${name.padEnd(22)}${medians[name].toFixed(2)} s  ${rate(medians[name])}`);
const ratio = (ours, theirs) =>
  names.includes(ours) && names.includes(theirs) ? `${(medians[theirs] / medians[ours]).toFixed(2)}x` : '-';
console.log(
  `throughput ratio vs qemu-img convert (default, unflushed): file ${ratio('sendense-run file', 'qemu-img convert')}, nbd ${ratio('sendense-run nbd', 'qemu-img convert')}`,
);
console.log(
  `throughput ratio vs qemu-img convert -t writeback (flushed, like ours): file ${ratio('sendense-run file', 'convert -t writeback')}, nbd ${ratio('sendense-run nbd', 'convert -t writeback')} (aim >= 0.8x)`,
);
console.log(
  `throughput ratio vs qemu-img convert into the same kind of NBD target (flushed): nbd ${ratio('sendense-run nbd', 'convert -> nbd')}, through SSH ${ratio('ssh: sendense-run nbd', 'ssh: convert -> nbd')} (aim >= 0.8x)`,
);
console.log(
  `verified restore (verify: true) vs qemu-img convert -t writeback + qemu-img compare: ${ratio('convert + compare', 'sendense-run verified')} of its time (aim <= 1.25x)`,
);
console.log(
  `verified restore to a node (read once there) vs the same restore unverified: ${ratio('ssh: sendense-run verified', 'ssh: sendense-run file')} of its throughput`,
);
console.log(`all ${names.length} results verified equal to the source with qemu-img compare`);
// A running sshd would keep the bench from ever exiting.
await sshd.stop();
