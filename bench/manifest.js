// What the verified repository costs (issue 13): a full copy with digests vs the same code
// without them (aim <= 5% slower), and verify of that copy against its manifest vs
// `qemu-img convert` of the same file into a null target (reads everything, writes nothing; aim
// >= 0.8x its throughput). 2 GiB qcow2 with 1 GiB of random data; warm-up, alternating rounds,
// medians and per-pair ratios, plus CPU seconds (runner with its source qemu-nbd, and the target
// qemu-nbd), steadier than wall time when other jobs share the cores. BENCH_RUNS=N (default 5).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = scratchDir('sendense-bench-manifest-');
const uptime = () =>
  execFileSync('uptime')
    .toString()
    .trim()
    .replace(/^.*load/, 'load');

const runner = await bundle(join(root, 'bench/support/transfer-entry.ts'), join(dir, 'transfer-entry.mjs'));
const { qemuNbdEnv } = await import(
  await bundle(join(root, 'src/qemu/qemu-nbd-env.ts'), join(dir, 'qemu-nbd-env.mjs'))
);
// verify as the CLI runs it: the built code (npm run build).
const { verifyLayer } = await import(join(root, 'dist/src/repository/verify-layer.js'));
const { normalizeDigests } = await import(join(root, 'dist/src/repository/manifest.js'));

const source = join(dir, 'source.qcow2');
const size = makeSourceImage(source, { regions: 128, size: 2 * GiB });
const dataBytes = 128 * 8 * MiB;

// Both modes write the same target path, made afresh each run: with one file per mode left
// beside each other, every second copy cost the target qemu-nbd 2-3x the CPU (sys time), whichever
// mode it was, and the ratio measured that instead of the digests.
const targetFile = join(dir, 'target.qcow2');

// CPU seconds (user + sys) of a process that has exited but not been reaped is gone; read it
// from /proc while the target still runs.
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString());

async function copy(mode) {
  const target = await startQemuNbdTarget(freshQcow2(targetFile, { size }), { env: qemuNbdEnv() });
  try {
    const run = await timedRun(
      [
        '/usr/bin/time',
        '-f',
        'cpu %U %S',
        process.execPath,
        runner,
        '--nbd-targets',
        `2000:${target.url}`,
        '--source',
        `2000=qemu:${source}`,
      ],
      {
        env: { ...process.env, DIGESTS: mode === 'digests' ? '1' : '0' },
      },
    );
    const [user, sys] = run.stderr.trim().split('\n').pop().split(' ').slice(1).map(Number);
    return { ...run, runnerCpu: user + sys, targetCpu: cpuSeconds(target.pid) };
  } finally {
    await target.stop();
  }
}

console.log(`full: 2 GiB qcow2, 1 GiB data, ${RUNS} runs each after one warm-up, alternating; ${uptime()}`);
const copies = { digests: [], plain: [] };
const cpu = { digests: [], plain: [] };
await alternatingRounds(RUNS, ['digests', 'plain'], async (mode, round) => {
  const result = await copy(mode);
  if (round < 0) return;
  copies[mode].push(result.seconds);
  cpu[mode].push(result.runnerCpu + result.targetCpu);
  console.log(
    `  ${mode.padEnd(7)} ${result.seconds.toFixed(2)} s  ${(dataBytes / MiB / result.seconds).toFixed(0)} MiB/s  CPU: runner + source qemu-nbd ${result.runnerCpu.toFixed(2)} s, target qemu-nbd ${result.targetCpu.toFixed(2)} s`,
  );
});
const withDigests = median(copies.digests);
const without = median(copies.plain);
const copyRatios = copies.digests.map((seconds, i) => seconds / copies.plain[i]);
console.log(
  `full with digests median ${withDigests.toFixed(2)} s, without ${without.toFixed(2)} s: ${((withDigests / without - 1) * 100).toFixed(1)}% slower (aim <= 5%; per-pair ratios ${spread(copyRatios)}); ${uptime()}`,
);
console.log(
  `CPU of all three processes: with digests median ${median(cpu.digests).toFixed(2)} s, without ${median(cpu.plain).toFixed(2)} s: ${((median(cpu.digests) / median(cpu.plain) - 1) * 100).toFixed(1)}% more`,
);

// One more copy with digests, for verify: its file and the manifest from its own digests lines.
const { stdout: lastStdout } = await copy('digests');
const written = { algorithm: undefined, data: [], zero: [] };
for (const line of lastStdout
  .split('\n')
  .filter(Boolean)
  .map((text) => JSON.parse(text))) {
  if (line.type !== 'digests') continue;
  written.algorithm = line.algorithm;
  written.data.push(...line.data);
  written.zero.push(...line.zero);
}
const file = targetFile;
const manifest = { virtualSize: size, digests: normalizeDigests(written) };
const ownLayer = `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: file } })}`;

console.log(`verify: ${manifest.digests.data.length} data ranges; ${RUNS} runs each after one warm-up, alternating`);
const reads = { verify: [], convert: [] };
await alternatingRounds(RUNS, ['verify', 'convert'], async (tool, round) => {
  let seconds;
  if (tool === 'verify') {
    const started = process.hrtime.bigint();
    const result = await verifyLayer(file, manifest);
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.findings.length > 0) throw new Error(`verify found: ${JSON.stringify(result.findings)}`);
  } else {
    seconds = (
      await timedRun([
        'qemu-img',
        'convert',
        '-n',
        '-f',
        'qcow2',
        ownLayer,
        '--target-image-opts',
        `driver=null-co,size=${size}`,
      ])
    ).seconds;
  }
  if (round < 0) return;
  reads[tool].push(seconds);
  console.log(`  ${tool.padEnd(7)} ${seconds.toFixed(2)} s  ${(dataBytes / MiB / seconds).toFixed(0)} MiB/s`);
});
const verifySeconds = median(reads.verify);
const convertSeconds = median(reads.convert);
const readRatios = reads.convert.map((seconds, i) => seconds / reads.verify[i]);
console.log(
  `verify median ${verifySeconds.toFixed(2)} s, qemu-img convert median ${convertSeconds.toFixed(2)} s: verify throughput ${(convertSeconds / verifySeconds).toFixed(2)}x of convert's (aim >= 0.8x; per-pair ${spread(readRatios)}); ${uptime()}`,
);
