// What the verified repository costs (issue 13): a full copy with digests vs the same code
// without them (aim <= 5% slower), and verify of that copy against its manifest vs
// `qemu-img convert` of the same file into a null target (reads everything, writes nothing; aim
// >= 0.8x its throughput). 2 GiB qcow2 with 1 GiB of random data; warm-up, alternating rounds,
// medians and per-pair ratios. BENCH_RUNS=N (default 5).
import { execFileSync } from 'node:child_process';
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
const uptime = () => execFileSync('uptime').toString().trim().replace(/^.*load/, 'load');

const runner = await bundle(join(root, 'bench/support/transfer-entry.ts'), join(dir, 'transfer-entry.mjs'));
const { qemuNbdEnv } = await import(await bundle(join(root, 'src/qemu/qemu-nbd-env.ts'), join(dir, 'qemu-nbd-env.mjs')));
// verify as the CLI runs it: the built code (npm run build).
const { verifyLayer } = await import(join(root, 'dist/src/repository/verify-layer.js'));
const { normalizeDigests } = await import(join(root, 'dist/src/repository/manifest.js'));

const source = join(dir, 'source.qcow2');
const size = makeSourceImage(source, { regions: 128, size: 2 * GiB });
const dataBytes = 128 * 8 * MiB;

async function copy(mode, targetFile) {
  const target = await startQemuNbdTarget(freshQcow2(targetFile, { size }), { env: qemuNbdEnv() });
  try {
    return await timedRun([process.execPath, runner, '--nbd-targets', `2000:${target.url}`, '--source', `2000=qemu:${source}`], { env: { ...process.env, DIGESTS: mode === 'digests' ? '1' : '0' } });
  } finally {
    await target.stop();
  }
}

console.log(`full: 2 GiB qcow2, 1 GiB data, ${RUNS} runs each after one warm-up, alternating; ${uptime()}`);
const copies = { digests: [], plain: [] };
let lastStdout = '';
await alternatingRounds(RUNS, ['digests', 'plain'], async (mode, round) => {
  const result = await copy(mode, join(dir, `full-${mode}.qcow2`));
  if (mode === 'digests') lastStdout = result.stdout;
  if (round < 0) return;
  copies[mode].push(result.seconds);
  console.log(`  ${mode.padEnd(7)} ${result.seconds.toFixed(2)} s  ${(dataBytes / MiB / result.seconds).toFixed(0)} MiB/s`);
});
const withDigests = median(copies.digests);
const without = median(copies.plain);
const copyRatios = copies.digests.map((seconds, i) => seconds / copies.plain[i]);
console.log(`full with digests median ${withDigests.toFixed(2)} s, without ${without.toFixed(2)} s: ${(((withDigests / without) - 1) * 100).toFixed(1)}% slower (aim <= 5%; per-pair ratios ${spread(copyRatios)}); ${uptime()}`);

// The manifest of the last copy with digests, from the transfer's own digests lines.
const written = { algorithm: undefined, data: [], zero: [] };
for (const line of lastStdout.split('\n').filter(Boolean).map((text) => JSON.parse(text))) {
  if (line.type !== 'digests') continue;
  written.algorithm = line.algorithm;
  written.data.push(...line.data);
  written.zero.push(...line.zero);
}
const file = join(dir, 'full-digests.qcow2');
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
    seconds = (await timedRun(['qemu-img', 'convert', '-n', '-f', 'qcow2', ownLayer, '--target-image-opts', `driver=null-co,size=${size}`])).seconds;
  }
  if (round < 0) return;
  reads[tool].push(seconds);
  console.log(`  ${tool.padEnd(7)} ${seconds.toFixed(2)} s  ${(dataBytes / MiB / seconds).toFixed(0)} MiB/s`);
});
const verifySeconds = median(reads.verify);
const convertSeconds = median(reads.convert);
const readRatios = reads.convert.map((seconds, i) => seconds / reads.verify[i]);
console.log(`verify median ${verifySeconds.toFixed(2)} s, qemu-img convert median ${convertSeconds.toFixed(2)} s: verify throughput ${(convertSeconds / verifySeconds).toFixed(2)}x of convert's (aim >= 0.8x; per-pair ${spread(readRatios)}); ${uptime()}`);
