// Short commands on an SSH node, as a libvirt run makes them (26 `virsh` calls one after another,
// the count a live incremental made before its command shell): through a throw-away sshd on
// 127.0.0.1 (bench/support/sshd.js), whose sessions skip the user's ~/.bashrc, and through a second
// one whose sessions read it, as a real node's login shell does. BENCH_BEFORE=DIR: the NodeHost
// of another built checkout runs beside ours, alternating. BENCH_RUNS=N (default 5). Needs
// `npm run build` and libvirtd answering `virsh -c qemu:///system`.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { requireBuild, root } from './support/built.js';
import { freePort, waitForPort } from './support/free-port.js';
import { scratchDir, stopChild, trackChild } from './support/scratch.js';
import { startSshd } from './support/sshd.js';
import { median } from './support/stats.js';

requireBuild('ssh-commands');
if (spawnSync('virsh', ['-c', 'qemu:///system', 'list', '--name']).status !== 0) {
  console.log('ssh-commands: skipped, libvirtd does not answer (virsh -c qemu:///system)');
  process.exit(0);
}
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CALLS = 26;
const dir = scratchDir('sendense-bench-ssh-commands-');
const sshd = await startSshd(dir);
// The same sshd but for SHLVL=1: bash run by sshd for a command then reads ~/.bashrc.
const rcPort = await freePort();
const config = readFileSync(join(dir, 'sshd_config'), 'utf8')
  .replace(' SHLVL=1', '')
  .replace(`Port ${sshd.port}`, `Port ${rcPort}`)
  .replace('sshd.pid', 'sshd-rc.pid');
writeFileSync(join(dir, 'sshd_config_rc'), config);
const rcSshd = trackChild(
  spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config_rc')], { stdio: 'ignore' }),
);
await waitForPort(rcPort);
const known = readFileSync(sshd.knownHosts, 'utf8');
writeFileSync(sshd.knownHosts, known + known.replace(`]:${sshd.port} `, `]:${rcPort} `));

const sides = [['ours', await import(join(root, 'dist', 'src', 'node', 'ssh.js'))]];
if (process.env.BENCH_BEFORE !== undefined)
  sides.push(['before', await import(join(process.env.BENCH_BEFORE, 'dist', 'src', 'node', 'ssh.js'))]);

// One connection, CALLS virsh calls in a row: milliseconds for the calls.
async function calls(module, port) {
  const node = await module.connectSshNode(
    { host: '127.0.0.1', port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
    { agent: false },
  );
  try {
    const start = performance.now();
    for (let call = 0; call < CALLS; call++) {
      const result = await node.exec(['virsh', '--quiet', '-c', 'qemu:///system', 'list', '--name']);
      if (result.exitCode !== 0) throw new Error(`virsh: ${result.stderr}`);
    }
    return performance.now() - start;
  } finally {
    await node.close();
  }
}

console.log(`\n${CALLS} virsh calls in a row through an SSH node; medians of ${RUNS}, alternating\n`);
console.log('| sshd sessions | load | ' + sides.map(([name]) => `${name} (per call)`).join(' | ') + ' |');
console.log('|---|---|' + sides.map(() => '---|').join(''));
for (const [label, port] of [
  ['skip ~/.bashrc (SHLVL=1)', sshd.port],
  ["read ~/.bashrc (a real node's login shell)", rcPort],
]) {
  const times = sides.map(() => []);
  const load = [loadavg()[0]];
  for (let run = 0; run < RUNS; run++)
    for (const [i, [, module]] of sides.entries()) times[i].push(await calls(module, port));
  load.push(loadavg()[0]);
  const cells = times.map((t) => `${median(t).toFixed(0)} ms (${(median(t) / CALLS).toFixed(1)} ms)`);
  console.log(`| ${label} | ${load.map((l) => l.toFixed(1)).join('-')} | ${cells.join(' | ')} |`);
}
await stopChild(rcSshd);
await sshd.stop();
