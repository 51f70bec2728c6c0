// What several NBD connections per disk buy over a high-latency link. tc netem is not available
// here, so a userspace TCP delay proxy sits between the node transfer and the hub's qemu-nbd:
// each direction is a delay line that holds every chunk for DELAY_MS (20 ms RTT added) and at
// most WINDOW_MIB unacknowledged per connection, a byte counting until its ACK would be back one
// RTT later (a TCP window: Linux's default tcp_wmem max is 4 MiB), so one connection <= W / RTT.
// Compared through the same proxy: the node transfer with --connections 1, with its default (4),
// and nbdcopy --connections 4 for reference; plus ours through the proxy with no delay (baseline:
// what the latency costs, the proxy's own CPU included).
// BENCH_RUNS=N (default 3), BENCH_GIB=N of data (default 1), BENCH_DELAY_MS (10 per direction),
// BENCH_WINDOW_MIB (4), BENCH_TMPDIR (default /var/tmp). Warm-up each, alternating, medians.
import { execFileSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { freePort } from './support/free-port.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATA_GIB = Number(process.env.BENCH_GIB ?? 1);
const DELAY_MS = Number(process.env.BENCH_DELAY_MS ?? 10);
const WINDOW = Number(process.env.BENCH_WINDOW_MIB ?? 4) * MiB;
const dir = scratchDir('sendense-bench-latency-');

const runner = await bundle(join(root, 'runners/sendense-transfer.ts'), join(dir, 'sendense-transfer.mjs'));

// Source: DATA_GIB GiB of random data in 8 MiB regions, each followed by an 8 MiB hole.
const source = join(dir, 'source.qcow2');
const virtualSize = makeSourceImage(source, { regions: DATA_GIB * 128 });

// One direction of the link: each chunk leaves delayMs after it arrived, in order; the reader
// is paused while WINDOW bytes are unacknowledged or the far side pushes back.
function delayLine(from, to, delayMs) {
  if (delayMs === 0) return void from.pipe(to);
  let inFlight = 0;
  let blocked = false;
  const maybeResume = () => {
    if (inFlight < WINDOW && !blocked) from.resume();
  };
  from.on('data', (chunk) => {
    inFlight += chunk.length;
    if (inFlight >= WINDOW) from.pause();
    setTimeout(() => {
      if (!to.destroyed && !to.write(chunk) && !blocked) {
        blocked = true;
        to.once('drain', () => {
          blocked = false;
          maybeResume();
        });
      }
      // Like TCP, a byte holds its window share until its acknowledgement is back: one more delay.
      setTimeout(() => {
        inFlight -= chunk.length;
        maybeResume();
      }, delayMs);
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

// 127.0.0.1:<port> -> 127.0.0.1:<upstream>, every connection through two delay lines.
async function startDelayProxy(upstream, delayMs) {
  const sockets = new Set();
  const server = createServer((client) => {
    const server = connect({ host: '127.0.0.1', port: upstream });
    for (const socket of [client, server]) {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on('error', () => (client.destroy(), server.destroy()));
      socket.on('close', () => sockets.delete(socket));
    }
    delayLine(client, server, delayMs);
    delayLine(server, client, delayMs);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// The hub's side: qemu-nbd on a fresh qcow2, 127.0.0.1, --shared=10, as the run starts it.
const startTarget = (file) => startQemuNbdTarget(freshQcow2(file, { size: virtualSize }));
const timed = async (argv) => (await timedRun(argv)).seconds;

// name -> [delay each way in ms, argv for a target URL]
const ours = (url, extra = []) => [
  process.execPath,
  runner,
  '--nbd-targets',
  `2000:${url}`,
  '--source',
  `2000=qemu:${source}`,
  ...extra,
];
const tools = {
  'ours, 1 connection': [DELAY_MS, (url) => ours(url, ['--connections', '1'])],
  'ours, default (4)': [DELAY_MS, (url) => ours(url)],
  'ours, 8 connections': [DELAY_MS, (url) => ours(url, ['--connections', '8'])],
  // Its source qemu-nbd must take 4 clients, else nbdcopy falls back to one connection.
  'nbdcopy, 4 conns': [
    DELAY_MS,
    (url) => [
      'nbdcopy',
      '--flush',
      '--connections=4',
      '--',
      '[',
      'qemu-nbd',
      '-r',
      '--shared=4',
      '-f',
      'qcow2',
      source,
      ']',
      url,
    ],
  ],
  'ours (4), no delay': [0, (url) => ours(url)],
};

async function copyOnce(name) {
  const [delayMs, argv] = tools[name];
  const file = join(dir, 'target.qcow2');
  const target = await startTarget(file);
  const proxy = await startDelayProxy(target.port, delayMs);
  try {
    const seconds = await timed(argv(`nbd://127.0.0.1:${proxy.port}/target`));
    return { seconds, file };
  } finally {
    await proxy.stop();
    await target.stop();
  }
}

const dataMiB = DATA_GIB * 1024;
const names = Object.keys(tools);
const times = Object.fromEntries(names.map((name) => [name, []]));
console.log(
  `${DATA_GIB} GiB of data, ${DELAY_MS} ms each way (+${2 * DELAY_MS} ms RTT), ${WINDOW / MiB} MiB window per connection; ${RUNS} runs each after a warm-up, alternating`,
);
await alternatingRounds(RUNS, names, async (name, run) => {
  const { seconds, file } = await copyOnce(name);
  if (run < 0) return;
  times[name].push(seconds);
  console.log(`  ${name.padEnd(20)} ${seconds.toFixed(2)} s  ${(dataMiB / seconds).toFixed(0)} MiB/s`);
  execFileSync('qemu-img', ['compare', '-q', source, file]);
});
const one = median(times['ours, 1 connection']);
for (const name of names) {
  const value = median(times[name]);
  console.log(
    `median ${name.padEnd(20)} ${value.toFixed(2)} s (${(dataMiB / value).toFixed(0)} MiB/s), ${(one / value).toFixed(2)}x one connection`,
  );
}
console.log('every copy verified with qemu-img compare');
