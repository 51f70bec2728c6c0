// A real libvirt guest for tests (and the libvirt bench): libvirtd started when none answers (no
// systemd here), the host's kernel with a busybox initramfs built once and cached, and an init
// that writes a counter to its disks all the time, so a copy can be checked for one point in time.
// Measured setup notes: test/support/libvirt-environment.md. No vitest here: the bench bundles it.
//
// Cleanup: a test file removes its guest in afterAll (`afterAll(() => guest?.remove())`). A worker
// killed before that leaves its domain behind; each domain names the test process that made it
// (in its <description>), and one whose process is gone is removed by the next startGuest and by
// the suite's global teardown (stopStartedLibvirtd).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unpackKernel } from '../../src/files/emulated-kernel.js';
import { isProcessAlive, processStartTicks } from '../../src/process/process-identity.js';

const VIRSH = ['-c', 'qemu:///system'];
/** Where a suite records the libvirtd/virtlogd it started, so the global teardown stops exactly those. */
export const STARTED_DAEMONS_FILE = path.join(tmpdir(), 'sendense-test-libvirtd.json');
/** Every test domain's name starts so. */
export const GUEST_PREFIX = 'sendense-test-';
/** Every test domain's files are in a dir whose path starts so (0755: libvirt-qemu must traverse it). */
export const GUEST_DIR_PREFIX = '/var/tmp/sendense-test-guest-';
const GUEST_CACHE = '/var/tmp/sendense-test-guest';
const MiB = 1024 * 1024;
const DAEMONS = [
  ['virtlogd', '/run/virtlogd.pid'],
  ['libvirtd', '/run/libvirtd.pid'],
] as const;

// virsh on qemu:///system; throws (with virsh's stderr) when it fails.
export function virsh(...args: string[]): string {
  return execFileSync('virsh', [...VIRSH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// virsh on qemu:///system, its exit status and output whatever happens (status 1 when virsh is missing).
export function virshResult(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('virsh', [...VIRSH, ...args], { encoding: 'utf8' });
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

// True when libvirtd answers on qemu:///system.
export function libvirtdAnswers(): boolean {
  return virshResult('list').status === 0;
}

// libvirtd answering on qemu:///system: started (and recorded for the teardown) when it does not.
// Test files run in parallel workers: one starts the daemons while the others wait on a lock.
export function ensureLibvirtd(): void {
  noteUser();
  if (daemonsRunning()) return;
  withLock(`${STARTED_DAEMONS_FILE}.lock`, startDaemons);
}

// libvirtd answers, and virtlogd runs: libvirtd asks it for each domain's log as the domain
// starts, so without it no guest starts ("Failed to connect socket to
// '/run/libvirt/virtlogd-sock'"), as happened once a session that had started both was stopped
// and only virtlogd went with it.
function daemonsRunning(): boolean {
  return daemonPid('virtlogd', '/run/virtlogd.pid') !== undefined && libvirtdAnswers();
}

// Every vitest run that uses libvirtd, one file each (its main process's PID and start time): a
// run's teardown never stops the daemons while another such run lives (CI runs three at once).
const USERS_DIR = path.join(tmpdir(), 'sendense-test-libvirtd-users');

function noteUser(): void {
  mkdirSync(USERS_DIR, { recursive: true, mode: 0o700 });
  const file = path.join(USERS_DIR, `${OWNER}-${processStartTicks(OWNER) ?? 0}`);
  if (!existsSync(file)) writeFileSync(file, '');
}

// The other vitest runs using libvirtd that are still alive; this run's entry goes.
function otherLiveUsers(): number {
  let names: string[];
  try {
    names = readdirSync(USERS_DIR);
  } catch {
    return 0;
  }
  let live = 0;
  for (const name of names) {
    const [pid, ticks] = name.split('-').map(Number) as [number, number];
    if (pid !== process.pid && isProcessAlive(pid, ticks || undefined)) live++;
    else rmSync(path.join(USERS_DIR, name), { force: true });
  }
  return live;
}

/** A daemon a suite started: stopped by PID, and only while that PID is still the same process. */
interface StartedDaemon {
  readonly name: string;
  readonly pid: number;
  readonly startTicks: number;
  /** The vitest run (its main process) that started it; only that run's teardown stops it. */
  readonly owner?: number;
}

// A vitest worker's run is its parent process; anything else (a bench) owns what it starts itself.
const OWNER = process.env.VITEST_WORKER_ID !== undefined ? process.ppid : process.pid;

// virtlogd then libvirtd, each only when it is not running already; recorded, then waited for.
function startDaemons(): void {
  if (daemonsRunning()) return;
  const started: StartedDaemon[] = [];
  for (const [name, pidFile] of DAEMONS) {
    if (daemonPid(name, pidFile) !== undefined || (name === 'libvirtd' && libvirtdAnswers())) continue;
    execFileSync(`/usr/sbin/${name}`, ['-d']);
    const pid = waitForDaemonPid(name, pidFile);
    started.push({ name, pid, startTicks: processStartTicks(pid) ?? 0, owner: OWNER });
  }
  writeFileSync(STARTED_DAEMONS_FILE, JSON.stringify([...recordedDaemons(), ...started]));
  for (let i = 0; i < 100; i++) {
    if (libvirtdAnswers()) return;
    sleepMs(100);
  }
  throw new Error(`libvirtd does not answer: ${virshResult('list').stderr}`);
}

// The daemons recorded as started by a suite that are still those very processes.
function recordedDaemons(): StartedDaemon[] {
  if (!existsSync(STARTED_DAEMONS_FILE)) return [];
  try {
    return (JSON.parse(readFileSync(STARTED_DAEMONS_FILE, 'utf8')) as StartedDaemon[]).filter((daemon) =>
      isProcessAlive(daemon.pid, daemon.startTicks),
    );
  } catch {
    return [];
  }
}

// After the suite (global teardown): test domains whose test process is gone are removed (this
// suite's workers have all exited by now); then the daemons a suite started are stopped by PID,
// libvirtd first, unless some domain still runs on them (another run's, or one not ours).
export function stopStartedLibvirtd(): void {
  if (libvirtdAnswers()) removeLeftoverGuests(process.pid);
  const recorded = recordedDaemons();
  // Another vitest run still uses libvirtd: the daemons stay, and the last run's teardown stops them.
  if (otherLiveUsers() > 0) {
    if (recorded.length > 0)
      writeFileSync(STARTED_DAEMONS_FILE, JSON.stringify(recorded.map((daemon) => ({ ...daemon, owner: undefined }))));
    return;
  }
  // Daemons another vitest run started and still uses (two runs at once on one machine) stay.
  const started = recorded.filter(
    (daemon) => daemon.owner === undefined || daemon.owner === process.pid || !isProcessAlive(daemon.owner),
  );
  const others = recorded.filter((daemon) => !started.includes(daemon));
  if (others.length > 0) {
    writeFileSync(STARTED_DAEMONS_FILE, JSON.stringify(others));
    return;
  }
  if (started.length === 0) {
    rmSync(STARTED_DAEMONS_FILE, { force: true });
    return;
  }
  if (libvirtdAnswers() && virshResult('list', '--name').stdout.trim() !== '') return;
  for (const daemon of [...started].sort((a, b) => Number(b.name === 'libvirtd') - Number(a.name === 'libvirtd'))) {
    if (!isProcessAlive(daemon.pid, daemon.startTicks)) continue;
    try {
      process.kill(daemon.pid, 'SIGTERM');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && isProcessAlive(daemon.pid, daemon.startTicks); i++) sleepMs(100);
  }
  rmSync(STARTED_DAEMONS_FILE, { force: true });
}

/** The kernel and initramfs every test guest boots (cached, readable by libvirt-qemu). */
export interface GuestBoot {
  readonly kernel: string;
  readonly initrd: string;
}

// The newest /boot/vmlinuz-* version: the guest's kernel (not `uname -r`: the host may run another).
export function guestKernelVersion(): string {
  const versions = readdirSync('/boot')
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const newest = versions.at(-1);
  if (newest === undefined) throw new Error('no /boot/vmlinuz-*: install linux-image-amd64 (scripts/setup.sh does)');
  if (!existsSync(`/lib/modules/${newest}`)) throw new Error(`no /lib/modules/${newest} for /boot/vmlinuz-${newest}`);
  return newest;
}

// How the cached boot files are made (part of the cache key): an uncompressed PVH kernel and cpio.
const BOOT_FORMAT = 'pvh-vmlinux, plain cpio';

// Kernel and initramfs in /var/tmp/sendense-test-guest/<kver>-<hash> (0755 dir, 0644 files),
// built once per kernel and init; later calls (any worker, any run) reuse them. The kernel is the
// ELF vmlinux unpacked from the bzImage, as the files appliance boots it under software emulation
// (src/files/emulated-kernel.ts): about 5 s of the ~11 s a guest took to boot were the emulated
// CPU unpacking the bzImage. The bzImage itself when the kernel has no PVH entry.
export async function guestBoot(): Promise<GuestBoot> {
  const kernelVersion = guestKernelVersion();
  const hash = createHash('sha256')
    .update(BOOT_FORMAT)
    .update(INIT)
    .update(kernelVersion)
    .update(MODULES.join(','))
    .update(APPLETS.join(','))
    .digest('hex')
    .slice(0, 12);
  const dir = path.join(GUEST_CACHE, `${kernelVersion}-${hash}`);
  const boot = { kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.cpio') };
  if (existsSync(boot.initrd)) return boot;
  mkdirSync(GUEST_CACHE, { recursive: true, mode: 0o755 });
  chmodSync(GUEST_CACHE, 0o755);
  const building = mkdtempSync(path.join(GUEST_CACHE, '.build-'));
  try {
    chmodSync(building, 0o755);
    if (!(await unpackKernel(kernelVersion, path.join(building, 'vmlinuz'))))
      copyFileSync(`/boot/vmlinuz-${kernelVersion}`, path.join(building, 'vmlinuz'));
    chmodSync(path.join(building, 'vmlinuz'), 0o644);
    buildGuestInitramfs(path.join(building, 'initrd.cpio'), kernelVersion);
    chmodSync(path.join(building, 'initrd.cpio'), 0o644);
    try {
      renameSync(building, dir);
    } catch (error) {
      // Another worker built the same files first: theirs are used (never replaced under a booting guest).
      if (!existsSync(boot.initrd)) throw error;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return boot;
}

// The guest's init: modules, the fs disk mounted, the agent on its port, with sendense.ip=A/P on
// the kernel's command line that address on eth0 and with sendense.listen=PORT busybox httpd on
// that port (a service a drill's tcp check finds), then the counter loop.
// The counter goes on from the one on vda (0 on blank disks), so it grows across restarts (leading
// zeros stripped first: busybox awk reads 0000000010 as octal).
// Each round n writes "COUNTER n" padded to 4 KiB to vda at 0, vda at 64 MiB, vdb at 1 MiB (each
// dd synced, O_DIRECT), prints "W n <µs those three writes took>" on the console, and appends n
// to /mnt/log when the fs disk vdc is mounted (so a filesystem freeze stops the loop). Every fork
// is emulated: the clock is the shell's own $EPOCHREALTIME (µs, no process), and the pause of
// 0.4 s makes ~2 rounds a second at ~0.13 s of CPU a second (0.2 s and two adjtimex|awk per round:
// ~3 rounds at ~0.3 s of CPU; test/support/libvirt-environment.md).
const INIT = `#!/bin/sh
export PATH=/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/null; done
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "GUEST-UP"
if [ -b /dev/vdc ]; then mkdir -p /mnt; mount -t ext4 /dev/vdc /mnt && echo "FS-MOUNTED"; fi
for p in /sys/class/virtio-ports/*; do
  [ -x /usr/sbin/qemu-ga ] && [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && { qemu-ga -m virtio-serial -p /dev/\${p##*/} -t /run & echo "AGENT-STARTED"; }
done
for a in $(cat /proc/cmdline); do case "$a" in sendense.ip=*) addr=\${a#sendense.ip=};; sendense.listen=*) port=\${a#sendense.listen=};; esac; done
if [ -n "$addr" ] && [ -d /sys/class/net/eth0 ]; then ip link set eth0 up && ip addr add "$addr" dev eth0 && echo "NET-UP $addr"; fi
if [ -n "$port" ]; then mkdir -p /www; echo up > /www/index.html; httpd -p "$port" -h /www && echo "LISTENING $port"; fi
n=$(dd if=/dev/vda bs=18 count=1 2>/dev/null | awk '$1 == "COUNTER" { sub(/^0+/, "", $2); print $2 + 0 }')
n=\${n:-0}; first=$((n+1))
echo "RESUME $n"
while true; do
  n=$((n+1)); printf 'COUNTER %010d\\n' $n > /tmp/c
  dd if=/tmp/c of=/tmp/blk bs=4096 count=1 conv=sync 2>/dev/null
  t=$EPOCHREALTIME; t0=$((\${t%.*} * 1000000 + 1\${t#*.} - 1000000))
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=0 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=16384 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vdb bs=4096 seek=256 conv=fsync,notrunc oflag=direct 2>/dev/null
  t=$EPOCHREALTIME; t1=$((\${t%.*} * 1000000 + 1\${t#*.} - 1000000))
  [ -d /mnt/lost+found ] && echo "$n" >> /mnt/log
  echo "W $n $((t1 - t0))"
  [ $n -eq $first ] && echo "FIRST-WRITE"
  sleep 0.4
done
`;

// Loaded in this order (dependencies first); ext4 and its dependencies are modules in Debian's 6.1.
const MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'virtio_blk',
  'virtio_console',
  'failover',
  'net_failover',
  'virtio_net',
  'crc16',
  'mbcache',
  'jbd2',
  'crc32c_generic',
  'ext4',
];
const APPLETS = [
  'sh',
  'mount',
  'insmod',
  'dd',
  'sleep',
  'printf',
  'cat',
  'ls',
  'echo',
  'mkdir',
  'cut',
  'awk',
  'ip',
  'httpd',
];

// A cpio initramfs at `out` (not compressed: the kernel would unpack it emulated): busybox-static, the virtio and ext4 modules of kernelVersion,
// qemu-ga with its shared libraries (when installed), and INIT.
export function buildGuestInitramfs(out: string, kernelVersion = guestKernelVersion()): void {
  const root = mkdtempSync(path.join(tmpdir(), 'sendense-initramfs-'));
  try {
    for (const dir of ['bin', 'proc', 'sys', 'dev', 'tmp', 'mods', 'run', 'var/run', 'usr/sbin'])
      mkdirSync(path.join(root, dir), { recursive: true });
    copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    chmodSync(path.join(root, 'bin/busybox'), 0o755);
    for (const applet of APPLETS) execFileSync('ln', ['-s', 'busybox', path.join(root, 'bin', applet)]);
    const order: string[] = [];
    for (const name of MODULES) {
      const found = execFileSync('find', [`/lib/modules/${kernelVersion}`, '-name', `${name}.ko*`], {
        encoding: 'utf8',
      }).split('\n')[0];
      if (!found) continue;
      const target = path.join(root, 'mods', `${name}.ko`);
      if (found.endsWith('.ko')) copyFileSync(found, target);
      else
        writeFileSync(
          target,
          execFileSync(found.endsWith('.xz') ? 'xz' : found.endsWith('.zst') ? 'zstd' : 'gzip', ['-dc', found]),
        );
      order.push(name);
    }
    writeFileSync(path.join(root, 'mods/order'), `${order.join('\n')}\n`);
    if (existsSync('/usr/sbin/qemu-ga')) {
      copyFileSync('/usr/sbin/qemu-ga', path.join(root, 'usr/sbin/qemu-ga'));
      chmodSync(path.join(root, 'usr/sbin/qemu-ga'), 0o755);
      for (const lib of execFileSync('ldd', ['/usr/sbin/qemu-ga'], { encoding: 'utf8' }).match(/\/\S+/g) ?? []) {
        mkdirSync(path.join(root, path.dirname(lib)), { recursive: true });
        copyFileSync(lib, path.join(root, lib));
      }
    }
    writeFileSync(path.join(root, 'init'), INIT, { mode: 0o755 });
    execFileSync('sh', ['-c', 'find . | cpio -o -H newc --quiet > "$1"', 'sh', out], { cwd: root });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface GuestOptions {
  /** Unique per test file: the domain is sendense-test-<name>. Two runs of one file at once (two
   *  checkouts) share that name: the later one's startGuest removes the earlier one's domain. */
  readonly name: string;
  /** The qemu-guest-agent channel (default true). */
  readonly agent?: boolean;
  /** A third disk vdc with an ext4 filesystem the guest writes to: a freeze really freezes it. */
  readonly fsDisk?: boolean;
  /** A transient domain (virsh create) instead of a defined one. */
  readonly transient?: boolean;
  /** Disk sizes (default vda 128 MiB, vdb 64 MiB; vda at least 65 MiB: a counter is at 64 MiB). */
  readonly sizesMiB?: { readonly vda: number; readonly vdb: number };
  /** MiB of data written to each disk before the first boot (a VM with something to back up). */
  readonly prefillMiB?: number;
  /** One virtio interface on this libvirt network (it must be active); default none. */
  readonly network?: string;
  /** More of the kernel's command line: sendense.ip=ADDRESS/PREFIX, sendense.listen=PORT (see INIT). */
  readonly cmdline?: string;
}

export interface TestGuest {
  /** The domain's name: sendense-test-<options.name>. */
  readonly name: string;
  /** Its files: images, console.log, domain.xml (0755, under /var/tmp). */
  readonly dir: string;
  /** Image of each target: vda (128 MiB), vdb (64 MiB), vdc (the fs disk). */
  readonly images: Readonly<Record<string, string>>;
  /** The serial console so far, all boots appended. */
  consoleText(): string;
  /** Starts it (again) and waits until it writes (and its agent answers). */
  start(): Promise<void>;
  /** virsh destroy: QEMU stops cleanly (SIGTERM), persistent bitmaps are saved. */
  destroy(): void;
  running(): boolean;
  /** Its disks' counters as the guest wrote them last (reads the images; best with the guest shut off). */
  counters(): Counters;
  /** The newest round written (from the console). */
  rounds(): number;
  /** Destroyed, undefined with its checkpoints' metadata, its files removed. */
  remove(): void;
}

// A guest running and writing its counters: a fresh dir, qcow2 images, the domain defined (or
// created) and started. Whatever fails on the way, nothing of it is left.
export async function startGuest(options: GuestOptions): Promise<TestGuest> {
  ensureLibvirtd();
  removeLeftoverGuests();
  const boot = await guestBoot();
  const name = `${GUEST_PREFIX}${options.name}`;
  removeDomain(name);
  const dir = mkdtempSync(GUEST_DIR_PREFIX);
  try {
    chmodSync(dir, 0o755);
    const images = createImages(dir, options);
    const xmlFile = path.join(dir, 'domain.xml');
    writeFileSync(
      xmlFile,
      domainXml(name, dir, boot, images, options.agent !== false, options.network, options.cmdline),
    );
    if (!options.transient) virsh('define', xmlFile);
    const guest = guestHandle(name, dir, images, options);
    await guest.start();
    return guest;
  } catch (error) {
    removeDomain(name);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// vda and vdb (blank or prefilled) and, with fsDisk, vdc holding an empty ext4 filesystem.
function createImages(dir: string, options: GuestOptions): Record<string, string> {
  const images: Record<string, string> = { vda: path.join(dir, 'vda.qcow2'), vdb: path.join(dir, 'vdb.qcow2') };
  const sizes = options.sizesMiB ?? { vda: 128, vdb: 64 };
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', images.vda!, `${sizes.vda}M`]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', images.vdb!, `${sizes.vdb}M`]);
  if (options.prefillMiB)
    for (const target of ['vda', 'vdb'] as const) prefill(images[target]!, options.prefillMiB, sizes[target]);
  if (options.fsDisk) {
    const raw = path.join(dir, 'vdc.raw');
    execFileSync('truncate', ['-s', '64M', raw]);
    execFileSync('mkfs.ext4', ['-q', '-F', raw]);
    images.vdc = path.join(dir, 'vdc.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-O', 'qcow2', raw, images.vdc]);
    rmSync(raw);
  }
  return images;
}

// The domain: TCG (KVM aborts here), no network unless asked, the console in a file, the agent's channel.
// Its description names the test process that made it and its dir (for the leftover sweep).
function domainXml(
  name: string,
  dir: string,
  boot: GuestBoot,
  images: Record<string, string>,
  agent: boolean,
  network?: string,
  cmdline?: string,
): string {
  const disk = (target: string) =>
    `<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='${images[target]}'/><target dev='${target}' bus='virtio'/></disk>`;
  return `<domain type='qemu'>
  <name>${name}</name><description>sendense test guest owner=${process.pid}:${processStartTicks(process.pid) ?? 0} dir=${dir}</description>
  <memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${boot.kernel}</kernel><initrd>${boot.initrd}</initrd><cmdline>console=ttyS0 panic=-1 loglevel=4${cmdline ? ` ${cmdline}` : ''}</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${Object.keys(images).map(disk).join('\n    ')}
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <serial type='file'><source path='${path.join(dir, 'console.log')}' append='on'/><target port='0'/></serial>
    ${agent ? "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>" : ''}
    ${network ? `<interface type='network'><source network='${network}'/><model type='virtio'/></interface>` : ''}
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>`;
}

// The TestGuest object of a domain made by startGuest.
function guestHandle(name: string, dir: string, images: Record<string, string>, options: GuestOptions): TestGuest {
  const consoleLog = path.join(dir, 'console.log');
  const consoleText = () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '');
  const guest: TestGuest = {
    name,
    dir,
    images,
    consoleText,
    rounds: () => Number([...consoleText().matchAll(/^W (\d+) /gm)].at(-1)?.[1] ?? 0),
    async start() {
      const logged = consoleText().length;
      virsh(...(options.transient ? ['create', path.join(dir, 'domain.xml')] : ['start', name]));
      await waitFor(() => consoleText().slice(logged).includes('FIRST-WRITE'), 300_000, `${name} to boot and write`);
      if (options.agent !== false)
        await waitFor(
          () => virshResult('qemu-agent-command', name, '{"execute":"guest-ping"}', '--timeout', '2').status === 0,
          60_000,
          `${name}'s guest agent`,
        );
    },
    destroy() {
      if (guest.running()) virsh('destroy', name);
    },
    running: () => virshResult('domstate', name).stdout.trim() === 'running',
    counters: () => readCounters(images.vda!, images.vdb!),
    remove() {
      removeDomain(name);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return guest;
}

// Data in 4 MiB extents with a gap after each (so block status has extents to report), from 2 MiB on.
function prefill(image: string, mib: number, sizeMiB: number): void {
  const commands: string[] = [];
  for (let written = 0, offset = 2; written < mib && offset + 4 <= sizeMiB; written += 4, offset += 6)
    commands.push('-c', `write -P ${(written % 250) + 1} ${offset}M 4M`);
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands, image], { stdio: 'ignore' });
}

// The test process that made a test domain and its dir, from its description (undefined: not ours).
function guestRecord(name: string): { pid: number; startTicks: number; dir: string } | undefined {
  const match = /owner=(\d+):(\d+) dir=(\S+)/.exec(virshResult('desc', name).stdout);
  if (!match || !match[3]!.startsWith(GUEST_DIR_PREFIX)) return undefined;
  return { pid: Number(match[1]), startTicks: Number(match[2]), dir: match[3]! };
}

// Gone from libvirt, whatever state it is in (checkpoint metadata included), with its dir.
function removeDomain(name: string): void {
  if (virshResult('domstate', name).status !== 0) return;
  const record = guestRecord(name);
  virshResult('destroy', name);
  virshResult('undefine', name, '--checkpoints-metadata');
  if (record) rmSync(record.dir, { recursive: true, force: true });
}

// Test domains whose test process is gone (a killed worker's; also ownerGone's): removed with their
// dirs. Domains without our description (not made by startGuest) are left alone.
export function removeLeftoverGuests(ownerGone?: number): void {
  const names = virshResult('list', '--all', '--name')
    .stdout.split('\n')
    .map((line) => line.trim());
  for (const name of names.filter((line) => line.startsWith(GUEST_PREFIX))) {
    const record = guestRecord(name);
    if (record && (record.pid === ownerGone || !isProcessAlive(record.pid, record.startTicks))) removeDomain(name);
  }
}

/** The three counters of one copy of the guest's disks (0: never written). */
export interface Counters {
  readonly vda0: number;
  readonly vda64: number;
  readonly vdb1: number;
}

// One instant of the guest. Round n writes vda@0, then vda@64M, then vdb@1M, each write finished
// before the next starts; so with m = vda64 an instant is (m, m, m) (between rounds), (m+1, m, m)
// (vda@0 written, the rest not yet) or (m, m, m-1) (vdb not yet). Never written: (0, 0, 0).
export function countersAreOnePointInTime({ vda0, vda64, vdb1 }: Counters): boolean {
  return (vda0 === vda64 && (vdb1 === vda64 || vdb1 === vda64 - 1)) || (vda0 === vda64 + 1 && vdb1 === vda64);
}

// The counter at `offset` of an image (qcow2 or raw), read even while QEMU holds it (-U).
export function readCounter(file: string, offset: number, format = file.endsWith('.raw') ? 'raw' : 'qcow2'): number {
  const out = execFileSync('qemu-io', ['-U', '-r', '-f', format, '-c', `read -v ${offset} 19`, file], {
    encoding: 'utf8',
  });
  const bytes = [...out.matchAll(/^[0-9a-f]{8}:((?:\s+[0-9a-f]{2})+)/gm)].flatMap((line) =>
    line[1]!
      .trim()
      .split(/\s+/)
      .map((hex) => parseInt(hex, 16)),
  );
  const text = Buffer.from(bytes).toString('latin1');
  const match = /^COUNTER (\d{10})/.exec(text);
  return match ? Number(match[1]) : 0;
}

// The three counters of a copy of the guest's vda and vdb (each qcow2 or raw; by extension unless given).
export function readCounters(vda: string, vdb: string, format?: 'qcow2' | 'raw'): Counters {
  return {
    vda0: readCounter(vda, 0, format),
    vda64: readCounter(vda, 64 * MiB, format),
    vdb1: readCounter(vdb, MiB, format),
  };
}

/** Counters of a restored VM: the files of a restore plan by disk key (2000 = vda, 2001 = vdb). */
export function restoredCounters(vda: string, vdb: string): Counters {
  return readCounters(vda, vdb);
}

/** Write latencies (µs) the guest printed for its rounds from `fromRound` on. */
export function guestWriteLatencies(consoleText: string, fromRound = 0): number[] {
  return [...consoleText.matchAll(/^W (\d+) (\d+)\r?$/gm)]
    .filter((match) => Number(match[1]) >= fromRound)
    .map((match) => Number(match[2]));
}

// Polls `check` every 250 ms; throws naming `what` after timeoutMs.
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** "frozen" or "thawed", as the guest agent says (undefined when it does not answer). */
export async function freezeStatusOf(name: string): Promise<string | undefined> {
  const result = virshResult('qemu-agent-command', name, '{"execute":"guest-fsfreeze-status"}', '--timeout', '5');
  return /"return"\s*:\s*"(\w+)"/.exec(result.stdout)?.[1];
}

// The PID in a daemon's pid file (written without a trailing newline) while that daemon runs.
function daemonPid(name: string, pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name ? pid : undefined;
  } catch {
    return undefined;
  }
}

// A daemon just started with -d: its PID once its pid file names it (a stale file may name a dead one).
function waitForDaemonPid(name: string, pidFile: string): number {
  for (let i = 0; i < 100; i++) {
    const pid = daemonPid(name, pidFile);
    if (pid !== undefined) return pid;
    sleepMs(100);
  }
  throw new Error(`${name} did not write its PID to ${pidFile}`);
}

// fn() while holding a lock file naming this process; a lock whose holder is gone is taken over.
function withLock(file: string, fn: () => void): void {
  for (let i = 0; ; i++) {
    try {
      writeFileSync(file, `${process.pid} ${processStartTicks(process.pid) ?? 0}`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (lockHolderGone(file)) rmSync(file, { force: true });
    else if (i > 600) throw new Error(`${file} held for a minute by a live process`);
    else sleepMs(100);
  }
  try {
    fn();
  } finally {
    rmSync(file, { force: true });
  }
}

// True when a lock file's holder has exited (a file still empty counts as held for 5 s).
function lockHolderGone(file: string): boolean {
  try {
    const [pid, ticks] = readFileSync(file, 'utf8').split(' ').map(Number) as [number, number];
    if (!(pid > 0)) return Date.now() - statSync(file).mtimeMs > 5000;
    return !isProcessAlive(pid, ticks || undefined);
  } catch {
    return false;
  }
}

// Blocks this thread (no event loop turn): for the synchronous daemon start and teardown.
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
