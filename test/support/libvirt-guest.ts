// A real libvirt guest for tests (and the libvirt bench): libvirtd started when none answers (no
// systemd here), the host's kernel with a busybox initramfs built once and cached, and an init
// that writes a counter to its disks all the time, so a copy can be checked for one point in time.
// Measured setup notes: test/support/libvirt-environment.md. No vitest here: the bench bundles it.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const VIRSH = ['-c', 'qemu:///system'];
/** Where a suite records the libvirtd/virtlogd it started, so the global teardown stops exactly those. */
export const STARTED_DAEMONS_FILE = path.join(tmpdir(), 'sendense-test-libvirtd.json');
const GUEST_CACHE = '/var/tmp/sendense-test-guest';
const MiB = 1024 * 1024;

export function virsh(...args: string[]): string {
  return execFileSync('virsh', [...VIRSH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function virshResult(...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('virsh', [...VIRSH, ...args], { encoding: 'utf8' });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

// libvirtd answering on qemu:///system: started (and recorded for the teardown) when it does not.
// Test files run in parallel workers: one starts the daemons while the others wait on a lock.
export function ensureLibvirtd(): void {
  if (virshResult('list').status === 0) return;
  const lock = `${STARTED_DAEMONS_FILE}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 600) throw new Error(`${lock} held for a minute: remove it if no test runs`);
      sleepMs(100);
    }
  }
  try {
    startDaemons();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function startDaemons(): void {
  if (virshResult('list').status === 0) return;
  const started: { name: string; pid: number }[] = [];
  for (const [name, pidFile] of [
    ['virtlogd', '/run/virtlogd.pid'],
    ['libvirtd', '/run/libvirtd.pid'],
  ] as const) {
    if (existsSync(pidFile) && processAlive(Number(readFileSync(pidFile, 'utf8').trim()))) continue;
    execFileSync(`/usr/sbin/${name}`, ['-d']);
    started.push({ name, pid: waitForPidFile(pidFile) });
  }
  const previous = existsSync(STARTED_DAEMONS_FILE) ? (JSON.parse(readFileSync(STARTED_DAEMONS_FILE, 'utf8')) as { name: string; pid: number }[]) : [];
  writeFileSync(STARTED_DAEMONS_FILE, JSON.stringify([...previous, ...started]));
  for (let i = 0; i < 100; i++) {
    if (virshResult('list').status === 0) return;
    sleepMs(100);
  }
  throw new Error(`libvirtd does not answer: ${virshResult('list').stderr}`);
}

// After the suite: our test domains destroyed, then the daemons the suite started stopped by PID.
export function stopStartedLibvirtd(): void {
  if (!existsSync(STARTED_DAEMONS_FILE)) return;
  const started = JSON.parse(readFileSync(STARTED_DAEMONS_FILE, 'utf8')) as { name: string; pid: number }[];
  for (const name of virshResult('list', '--all', '--name')
    .stdout.split('\n')
    .map((line) => line.trim())) {
    if (name.startsWith('sendense-test-')) removeDomain(name);
  }
  // libvirtd first: it still talks to virtlogd while it stops.
  for (const daemon of [...started].sort((a) => (a.name === 'libvirtd' ? -1 : 1))) {
    try {
      process.kill(daemon.pid, 'SIGTERM');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && processAlive(daemon.pid); i++) sleepMs(100);
  }
  rmSync(STARTED_DAEMONS_FILE, { force: true });
}

/** The kernel and initramfs every test guest boots (cached, readable by libvirt-qemu). */
export interface GuestBoot {
  readonly kernel: string;
  readonly initrd: string;
}

// Built once per kernel and init script; later calls reuse the files.
export function guestBoot(): GuestBoot {
  const kernelVersion = readdirSync('/boot')
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .sort()
    .at(-1);
  if (kernelVersion === undefined) throw new Error('no /boot/vmlinuz-*: install linux-image-amd64 (scripts/setup.sh does)');
  const hash = createHash('sha256').update(INIT).update(kernelVersion).update(MODULES.join(',')).digest('hex').slice(0, 12);
  const dir = path.join(GUEST_CACHE, `${kernelVersion}-${hash}`);
  const boot = { kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.gz') };
  if (existsSync(boot.initrd)) return boot;
  mkdirSync(GUEST_CACHE, { recursive: true, mode: 0o755 });
  chmodSync(GUEST_CACHE, 0o755);
  const building = mkdtempSync(path.join(GUEST_CACHE, '.build-'));
  try {
    chmodSync(building, 0o755);
    copyFileSync(`/boot/vmlinuz-${kernelVersion}`, path.join(building, 'vmlinuz'));
    chmodSync(path.join(building, 'vmlinuz'), 0o644);
    buildInitramfs(path.join(building, 'initrd.gz'), kernelVersion);
    chmodSync(path.join(building, 'initrd.gz'), 0o644);
    rmSync(dir, { recursive: true, force: true });
    execFileSync('mv', ['-T', building, dir]);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return boot;
}

// The guest's init: modules, the fs disk mounted, the agent on its port, then the counter loop.
// Each round n writes "COUNTER n" to vda at 0, vda at 64 MiB, vdb at 1 MiB (synced, O_DIRECT),
// prints "W n <µs those writes took>" on the console, and appends to /mnt/log when vdc is there.
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
us() { set -- $(adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{print s, u}'); echo $(($1 * 1000000 + $2)); }
n=0
while true; do
  n=$((n+1)); printf 'COUNTER %010d\\n' $n > /tmp/c
  dd if=/tmp/c of=/tmp/blk bs=4096 count=1 conv=sync 2>/dev/null
  t0=$(us)
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=0 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=16384 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vdb bs=4096 seek=256 conv=fsync,notrunc oflag=direct 2>/dev/null
  t1=$(us)
  [ -d /mnt/lost+found ] && echo "$n" >> /mnt/log
  echo "W $n $((t1 - t0))"
  [ $n -eq 1 ] && echo "FIRST-WRITE"
  sleep 0.2
done
`;

const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk', 'virtio_console', 'crc16', 'mbcache', 'jbd2', 'crc32c_generic', 'ext4'];

function buildInitramfs(out: string, kernelVersion: string): void {
  const root = mkdtempSync(path.join(tmpdir(), 'sendense-initramfs-'));
  try {
    for (const dir of ['bin', 'proc', 'sys', 'dev', 'tmp', 'mods', 'run', 'var/run', 'usr/sbin']) mkdirSync(path.join(root, dir), { recursive: true });
    copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    chmodSync(path.join(root, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'mount', 'insmod', 'dd', 'sleep', 'printf', 'cat', 'ls', 'echo', 'mkdir', 'cut', 'awk', 'adjtimex'])
      execFileSync('ln', ['-s', 'busybox', path.join(root, 'bin', applet)]);
    const order: string[] = [];
    for (const name of MODULES) {
      const found = execFileSync('find', [`/lib/modules/${kernelVersion}`, '-name', `${name}.ko*`], { encoding: 'utf8' }).split('\n')[0];
      if (!found) continue;
      const target = path.join(root, 'mods', `${name}.ko`);
      if (found.endsWith('.ko')) copyFileSync(found, target);
      else writeFileSync(target, execFileSync(found.endsWith('.xz') ? 'xz' : found.endsWith('.zst') ? 'zstd' : 'gzip', ['-dc', found]));
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
    execFileSync('sh', ['-c', 'find . | cpio -o -H newc --quiet | gzip -1 > "$1"', 'sh', out], { cwd: root });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface GuestOptions {
  /** Unique per test file: sendense-test-<name>. */
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
}

export interface TestGuest {
  readonly name: string;
  readonly dir: string;
  /** Image of each target: vda (128 MiB), vdb (64 MiB), vdc (the fs disk). */
  readonly images: Readonly<Record<string, string>>;
  consoleText(): string;
  /** Starts it (again) and waits until it writes. */
  start(): Promise<void>;
  /** virsh destroy: QEMU stops cleanly (SIGTERM), persistent bitmaps are saved. */
  destroy(): void;
  running(): boolean;
  /** Its disks' counters as the guest wrote them last (reads the images; best with the guest shut off). */
  counters(): Counters;
  /** The rounds written so far (from the console). */
  rounds(): number;
  /** Destroyed, undefined with its checkpoints' metadata, its files removed. */
  remove(): void;
}

export async function startGuest(options: GuestOptions): Promise<TestGuest> {
  ensureLibvirtd();
  const boot = guestBoot();
  const name = `sendense-test-${options.name}`;
  removeDomain(name);
  const dir = mkdtempSync('/var/tmp/sendense-test-guest-');
  chmodSync(dir, 0o755);
  const images: Record<string, string> = { vda: path.join(dir, 'vda.qcow2'), vdb: path.join(dir, 'vdb.qcow2') };
  const sizes = options.sizesMiB ?? { vda: 128, vdb: 64 };
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', images.vda!, `${sizes.vda}M`]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', images.vdb!, `${sizes.vdb}M`]);
  if (options.prefillMiB) for (const target of ['vda', 'vdb'] as const) prefill(images[target]!, options.prefillMiB, sizes[target]);
  if (options.fsDisk) {
    const raw = path.join(dir, 'vdc.raw');
    execFileSync('truncate', ['-s', '64M', raw]);
    execFileSync('mkfs.ext4', ['-q', '-F', raw]);
    images.vdc = path.join(dir, 'vdc.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-O', 'qcow2', raw, images.vdc]);
    rmSync(raw);
  }
  const consoleLog = path.join(dir, 'console.log');
  const disk = (target: string) => `<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='${images[target]}'/><target dev='${target}' bus='virtio'/></disk>`;
  const xml = `<domain type='qemu'>
  <name>${name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${boot.kernel}</kernel><initrd>${boot.initrd}</initrd><cmdline>console=ttyS0 panic=-1 loglevel=4</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${Object.keys(images).map(disk).join('\n    ')}
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <serial type='file'><source path='${consoleLog}' append='on'/><target port='0'/></serial>
    ${options.agent === false ? '' : "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"}
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>`;
  const xmlFile = path.join(dir, 'domain.xml');
  writeFileSync(xmlFile, xml);
  if (!options.transient) virsh('define', xmlFile);
  const consoleText = () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '');
  const rounds = () => Number([...consoleText().matchAll(/^W (\d+) /gm)].at(-1)?.[1] ?? 0);
  const guest: TestGuest = {
    name,
    dir,
    images,
    consoleText,
    rounds,
    async start() {
      const logged = consoleText().length;
      if (options.transient) virsh('create', xmlFile);
      else virsh('start', name);
      // Each boot counts from 1 again.
      await waitFor(() => consoleText().slice(logged).includes('FIRST-WRITE'), 120_000, `${name} to boot and write`);
      if (options.agent !== false) await waitFor(() => virshResult('qemu-agent-command', name, '{"execute":"guest-ping"}', '--timeout', '2').status === 0, 60_000, `${name}'s guest agent`);
    },
    destroy() {
      if (guest.running()) virsh('destroy', name);
    },
    running: () => virshResult('domstate', name).stdout.trim() === 'running',
    counters: () => ({ vda0: readCounter(images.vda!, 0), vda64: readCounter(images.vda!, 64 * MiB), vdb1: readCounter(images.vdb!, MiB) }),
    remove() {
      removeDomain(name);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await guest.start();
  } catch (error) {
    guest.remove();
    throw error;
  }
  return guest;
}

// Data in 4 MiB extents with a gap after each (so block status has extents to report), from 2 MiB on.
function prefill(image: string, mib: number, sizeMiB: number): void {
  const commands: string[] = [];
  for (let written = 0, offset = 2; written < mib && offset + 4 <= sizeMiB; written += 4, offset += 6) commands.push('-c', `write -P ${(written % 250) + 1} ${offset}M 4M`);
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands, image], { stdio: 'ignore' });
}

// Gone from libvirt, whatever state it is in (checkpoint metadata included).
function removeDomain(name: string): void {
  if (virshResult('domstate', name).status !== 0) return;
  virshResult('destroy', name);
  virshResult('undefine', name, '--checkpoints-metadata');
}

/** The three counters of one copy of the guest's disks (0: never written). */
export interface Counters {
  readonly vda0: number;
  readonly vda64: number;
  readonly vdb1: number;
}

// One instant of the guest: round n wrote vda@0, then vda@64M, then vdb@1M.
export function countersAreOnePointInTime({ vda0, vda64, vdb1 }: Counters): boolean {
  return (vda0 === vda64 && (vdb1 === vda64 || vdb1 === vda64 - 1)) || (vda0 === vda64 + 1 && vdb1 === vda64);
}

// The counter at `offset` of an image (qcow2 or raw), read even while QEMU holds it (-U).
export function readCounter(file: string, offset: number, format = file.endsWith('.raw') ? 'raw' : 'qcow2'): number {
  const out = execFileSync('qemu-io', ['-U', '-r', '-f', format, '-c', `read -v ${offset} 19`, file], { encoding: 'utf8' });
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

/** Counters of a restored VM: the files of a restore plan by disk key (2000 = vda, 2001 = vdb). */
export function restoredCounters(vda: string, vdb: string): Counters {
  return { vda0: readCounter(vda, 0), vda64: readCounter(vda, 64 * MiB), vdb1: readCounter(vdb, MiB) };
}

/** Write latencies (µs) the guest printed for its rounds from `fromRound` on. */
export function guestWriteLatencies(consoleText: string, fromRound = 0): number[] {
  return [...consoleText.matchAll(/^W (\d+) (\d+)\r?$/gm)].filter((match) => Number(match[1]) >= fromRound).map((match) => Number(match[2]));
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function waitForPidFile(file: string): number {
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0) return pid;
    }
    sleepMs(100);
  }
  throw new Error(`${file} did not appear`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** "frozen" or "thawed", as the guest agent says (undefined when it does not answer). */
export async function freezeStatusOf(name: string): Promise<string | undefined> {
  const result = virshResult('qemu-agent-command', name, '{"execute":"guest-fsfreeze-status"}', '--timeout', '5');
  return /"return"\s*:\s*"(\w+)"/.exec(result.stdout)?.[1];
}
