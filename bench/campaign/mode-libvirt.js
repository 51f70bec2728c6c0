// The campaign's `libvirt` mode: the VM is a live libvirt domain, the busybox guest of the libvirt
// tests (test/support/libvirt-guest.ts, bundled), backed up through a `source: libvirt` plan while
// it runs. The guest's counter loop keeps writing vda and vdc; its vdb, the disk backed up, is
// renamed in the guest (/dev/vdb -> /dev/cvdb) so the loop's writes miss it, and only the harness
// writes it, through the guest (dd over the guest agent, O_DIRECT and synced), keeping a model of
// its bytes: the guest is idle on vdb while a backup runs, so the point's bytes are exactly the
// model's when the backup started. Fault `libvirtd-restart`: libvirtd stopped by its PID (SIGTERM
// or SIGKILL) at a random moment of a backup and started again, only when it is one the test
// support started (recorded in its STARTED_DAEMONS_FILE, by this campaign or a test run or
// campaign before it; never a system one) and no other domain than ours is on it (another user's
// domain would see libvirtd go).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundle } from '../support/bundle.js';
import { root } from '../support/built.js';
import { stat, stillRunning } from './run-cli.js';
import { DISK_KEY, SOURCE_BYTES, VM } from './workspace.js';

const VIRSH = ['-c', 'qemu:///system'];
const MiB = 1024 * 1024;
const BLOCK = 65536;
// vdb in the guest once renamed: the loop's `dd of=/dev/vdb` then writes nowhere (devtmpfs refuses O_DIRECT).
const DEVICE = '/dev/cvdb';
// What the guest's dir holds besides the scratch directory; anything else is left by a run.
const GUEST_FILES = new Set(['vda.qcow2', 'vdb.qcow2', 'vdc.qcow2', 'console.log', 'domain.xml', 'scratch']);

// The draw in this mode: libvirtd restarted during a backup.
export function addLibvirtDraw(faults) {
  faults.backup.push('libvirtd-restart', 'libvirtd-restart');
}

function virsh(...args) {
  return execFileSync('virsh', [...VIRSH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function virshResult(...args) {
  const result = spawnSync('virsh', [...VIRSH, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// test/support/libvirt-guest.ts bundled for this process (a file of its own: campaigns may run at once).
async function guestSupport() {
  const dir = join(root, 'bench', 'out');
  mkdirSync(dir, { recursive: true });
  const file = await bundle(
    join(root, 'test/support/libvirt-guest.ts'),
    join(dir, `campaign-libvirt-guest-${process.pid}.mjs`),
    { packages: 'external' },
  );
  try {
    return await import(file);
  } finally {
    rmSync(file, { force: true });
  }
}

// libvirtd's PID and start time now (from its pid file, written without a newline), or undefined.
function libvirtdNow() {
  try {
    const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
    const entry = pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'libvirtd' ? stat(pid) : undefined;
    return entry && entry.state !== 'Z' ? { pid, startTicks: entry.startTicks } : undefined;
  } catch {
    return undefined;
  }
}

// Runs a shell script in the guest through its agent; throws with its stderr unless it exits 0.
async function guestScript(domain, script) {
  const started = JSON.parse(
    virsh(
      'qemu-agent-command',
      domain,
      JSON.stringify({
        execute: 'guest-exec',
        arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true },
      }),
    ),
  ).return.pid;
  for (let tries = 0; tries < 1200; tries++) {
    const status = JSON.parse(
      virsh(
        'qemu-agent-command',
        domain,
        JSON.stringify({ execute: 'guest-exec-status', arguments: { pid: started } }),
      ),
    ).return;
    if (status.exited) {
      if (status.exitcode !== 0)
        throw new Error(
          `in the guest: ${script}: exit ${status.exitcode}: ${Buffer.from(status['err-data'] ?? '', 'base64')
            .toString()
            .trim()}`,
        );
      return;
    }
    await sleep(100);
  }
  throw new Error(`in the guest: ${script}: still running after 2 minutes`);
}

export class LibvirtService {
  constructor(log) {
    this.log = log;
    this.support = undefined;
    this.guest = undefined;
    this.restarting = Promise.resolve();
    this.failure = undefined;
    this.restarts = 0;
    this.skippedRestarts = 0;
  }

  async start() {
    this.support = await guestSupport();
    this.support.ensureLibvirtd();
  }

  // The recorded libvirtd (the test support's file) that is running now, or undefined.
  #recordedLibvirtd() {
    const now = libvirtdNow();
    const recorded = this.#records().some(
      (record) => record.name === 'libvirtd' && record.pid === now?.pid && record.startTicks === now?.startTicks,
    );
    return recorded ? now : undefined;
  }

  #records() {
    try {
      return JSON.parse(readFileSync(this.support.STARTED_DAEMONS_FILE, 'utf8'));
    } catch {
      return [];
    }
  }

  // A new guest for a fresh workspace (the old one removed with its checkpoints): booted, its vdb
  // renamed in the guest and zeroed where the loop had written its counter, so its bytes are the model's.
  async newGuest() {
    this.removeGuest();
    this.guest = await this.support.startGuest({ name: `campaign-${process.pid}`, fsDisk: true });
    this.scratch = join(this.guest.dir, 'scratch');
    mkdirSync(this.scratch, { mode: 0o755 });
    await guestScript(
      this.guest.name,
      `busybox mv /dev/vdb ${DEVICE} && sleep 2 && busybox dd if=/dev/zero of=${DEVICE} bs=4096 seek=256 count=1 oflag=direct conv=fsync,notrunc 2>&1`,
    );
    this.model = Buffer.alloc(SOURCE_BYTES);
    const image = this.imageDigest();
    if (image !== this.digest())
      throw new Error(`the guest's vdb does not read as zeroes after it was renamed and zeroed (${image})`);
  }

  removeGuest() {
    this.guest?.remove();
    this.guest = undefined;
  }

  // The plan's source: vdb of the domain as disk DISK_KEY, the job's scratch in the guest's dir.
  planSource() {
    return [
      '    type: libvirt',
      `    domain: ${this.guest.name}`,
      `    scratch: ${this.scratch}`,
      '    disks:',
      `      - { key: ${DISK_KEY}, target: vdb }`,
    ];
  }

  // Random writes of the guest to vdb (data, zeroes), all decided by rng, applied to the model too.
  async write(rng) {
    const commands = [];
    const count = rng.int(1, 6);
    for (let i = 0; i < count; i++) {
      const block = rng.int(0, (SOURCE_BYTES - 4 * MiB) / BLOCK);
      const blocks = rng.int(1, 32);
      const dd = `busybox dd of=${DEVICE} bs=${BLOCK} seek=${block} count=${blocks} oflag=direct conv=fsync,notrunc 2>&1 >/dev/null`;
      if (rng.weighted({ data: 6, zero: 1 }) === 'data') {
        const byte = rng.int(1, 255);
        commands.push(
          `busybox tr '\\000' '\\${byte.toString(8)}' </dev/zero | ${dd.replace('busybox dd', 'busybox dd iflag=fullblock')}`,
        );
        this.model.fill(byte, block * BLOCK, (block + blocks) * BLOCK);
      } else {
        commands.push(`${dd.replace('busybox dd', 'busybox dd if=/dev/zero')}`);
        this.model.fill(0, block * BLOCK, (block + blocks) * BLOCK);
      }
    }
    await guestScript(this.guest.name, `set -e; ${commands.join('; ')}`);
    // The writes are synced: the image on disk must read as the model now, else the model is wrong.
    if (this.imageDigest() !== this.digest())
      throw new Error(`vdb's image differs from the model after: ${commands.join('; ')}`);
    return commands;
  }

  // sha256 of the model: what a backup taken now must restore to.
  digest() {
    return createHash('sha256').update(this.model).digest('hex');
  }

  // sha256 of vdb's image as it is on disk now (read beside QEMU, -U): the model's check.
  imageDigest() {
    const raw = join(this.guest.dir, 'vdb-now.raw');
    try {
      execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', this.guest.images.vdb, raw]);
      return createHash('sha256').update(readFileSync(raw)).digest('hex');
    } finally {
      rmSync(raw, { force: true });
    }
  }

  // The fault's act: libvirtd stopped (how: sigterm or sigkill) and started again downMs after it
  // is gone; a string saying what it hit, or undefined when libvirtd is not ours to restart.
  restartLibvirtd(how, downMs) {
    const now = this.#recordedLibvirtd();
    const others = virshResult('list', '--all', '--name')
      .stdout.split('\n')
      .map((line) => line.trim())
      .filter((name) => name !== '' && name !== this.guest?.name);
    if (now === undefined || others.length > 0) {
      this.skippedRestarts += 1;
      this.log(
        `  libvirtd not restarted: ${now === undefined ? 'the libvirtd running is not one the test support started' : `other domains on it (${others.join(', ')})`}`,
      );
      return undefined;
    }
    this.restarting = this.#restart(now, how, downMs).catch((error) => {
      this.failure = error;
    });
    return `libvirtd (${how}, down ${downMs} ms)`;
  }

  async #restart(daemon, how, downMs) {
    process.kill(daemon.pid, how === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
    for (let tries = 0; stillRunning(daemon); tries++) {
      // libvirtd takes a few seconds to end on SIGTERM; 30 s and it is killed.
      if (tries === 300) process.kill(daemon.pid, 'SIGKILL');
      await sleep(100);
    }
    await sleep(downMs);
    // Another user of the test support may have started one meanwhile (it found none answering):
    // that one is libvirtd from now on, recorded by whoever started it.
    const start = spawnSync('/usr/sbin/libvirtd', ['-d'], { encoding: 'utf8' });
    for (let tries = 0; tries < 300; tries++) {
      const started = libvirtdNow();
      if (started && started.pid !== daemon.pid && virshResult('list').status === 0) {
        if (start.status === 0) this.#recordDaemon(daemon, started);
        this.restarts += 1;
        return;
      }
      await sleep(100);
    }
    throw new Error(
      `libvirtd did not answer 30 s after it was started again (${start.stderr.trim() || `exit ${start.status}`})`,
    );
  }

  // A restart that failed, said once (then cleared: the campaign goes on in a fresh workspace).
  takeFailure() {
    const failure = this.failure;
    this.failure = undefined;
    return failure;
  }

  // The record the test support keeps of the daemons it started (its teardown stops exactly
  // those): the old libvirtd's entry now names the new one.
  #recordDaemon(old, started) {
    const file = this.support.STARTED_DAEMONS_FILE;
    const updated = this.#records().map((record) =>
      record.name === 'libvirtd' && record.pid === old.pid ? { ...record, ...started } : record,
    );
    if (!updated.some((record) => record.name === 'libvirtd' && record.pid === started.pid))
      updated.push({ name: 'libvirtd', ...started, owner: process.pid });
    writeFileSync(file, JSON.stringify(updated));
  }

  // Resolves once a restart under way is over (libvirtd answering again).
  async ready() {
    await this.restarting;
  }

  // What must hold of the domain after every step (after doctor when it was faulted), one line
  // each that does not: it runs, is neither paused nor frozen, has no job, carries no checkpoint
  // of ours but the one the next incremental starts from (docs/how-it-works.md#libvirt-domains),
  // nothing is left in the scratch directory or beside its images, and every stored domain
  // definition is a recorded point's.
  check(ws, backups) {
    const name = this.guest.name;
    const problems = [];
    const state = virshResult('domstate', name, '--reason').stdout.trim();
    if (!/^running\b/.test(state)) problems.push(`domain ${name} is ${state || 'gone'}, not running`);
    const freeze = virshResult(
      'qemu-agent-command',
      name,
      '{"execute":"guest-fsfreeze-status"}',
      '--timeout',
      '10',
    ).stdout;
    if (!/"return"\s*:\s*"thawed"/.test(freeze))
      problems.push(`the guest's filesystems are not thawed: ${freeze.trim() || 'the agent does not answer'}`);
    const job = virshResult('domjobinfo', name);
    if (!/Job type:\s+None/.test(job.stdout))
      problems.push(`a job is left on ${name}: ${(job.stdout + job.stderr).trim().replace(/\s+/g, ' ')}`);
    const newest = backups.filter((point) => point.status === 'complete').at(-1);
    const keep = newest?.disks.find((disk) => disk.changeId)?.changeId;
    const recorded = new Set(backups.flatMap((point) => point.disks.map((disk) => disk.changeId)).filter(Boolean));
    for (const checkpoint of virshResult('checkpoint-list', name, '--name')
      .stdout.split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith('sendense-'))) {
      if (!recorded.has(checkpoint)) problems.push(`checkpoint ${checkpoint} of no recorded point left on ${name}`);
      else if (checkpoint !== keep)
        problems.push(
          `checkpoint ${checkpoint} left on ${name} beside the newest complete point's (${keep ?? 'none'})`,
        );
    }
    for (const entry of readdirSync(this.scratch)) problems.push(`left in the scratch directory: ${entry}`);
    for (const entry of readdirSync(this.guest.dir))
      if (!GUEST_FILES.has(entry)) problems.push(`left beside the guest's images: ${entry}`);
    const ids = new Set(backups.map((point) => point.id));
    let definitions = [];
    try {
      definitions = readdirSync(join(ws.repository, VM, 'domain'));
    } catch {
      // No point taken yet.
    }
    for (const file of definitions)
      if (!ids.has(file.replace(/\.xml$/, ''))) problems.push(`domain definition of no recorded point left: ${file}`);
    return problems;
  }

  // The end: our guest removed; the daemons the test support started stopped as its teardown
  // stops them (not while another of its users lives or a domain runs).
  async stop() {
    await this.restarting;
    this.removeGuest();
    this.support.stopStartedLibvirtd();
  }

  // Ctrl+C: the guest goes, even one still booting (libvirtd stays for the suite's teardown or the next campaign).
  killNow() {
    this.removeGuest();
    this.support?.removeLeftoverGuests(process.pid);
  }
}
