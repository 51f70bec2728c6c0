// What the instant-recovery tests share: a backed-up guest whose production domain then "dies",
// the recovered domain's disks compared with the point, and checks that nothing serves the
// repository any more.

import { createHash } from 'node:crypto';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { virsh, virshResult, type Counters } from '../support/libvirt-guest.js';
import { asNobody } from '../support/other-user-cli.js';

const MiB = 1024 * 1024;

// Where the guest writes its counters (test/support/libvirt-guest.ts): everything else on a disk is the point's data.
const COUNTER_BLOCKS: Readonly<Record<number, readonly number[]>> = { 2000: [0, 64 * MiB], 2001: [MiB] };

// A recovered disk (qcow2, the domain shut off) holds the point's data everywhere but the counter blocks.
export function holdsPointData(storage: string, pointRaw: string, key: number): boolean {
  const raw = `${storage}.compare.raw`;
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', storage, raw]);
  try {
    const a = readFileSync(raw);
    const b = readFileSync(pointRaw);
    if (a.length !== b.length) return false;
    for (const offset of COUNTER_BLOCKS[key] ?? []) {
      a.fill(0, offset, offset + 4096);
      b.fill(0, offset, offset + 4096);
    }
    return a.equals(b);
  } finally {
    rmSync(raw, { force: true });
  }
}

// sha256 of every file in the repository: a recovery must leave them all as they were.
export function repositoryDigests(repository: string): Record<string, string> {
  const digests: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else digests[path.relative(repository, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
    }
  };
  walk(repository);
  return digests;
}

// PIDs of processes that have a file under `dir` open (qemu-nbd serving the repository would).
export function processesHolding(dir: string): number[] {
  const holders: number[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`)) {
          holders.push(Number(pid));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return holders;
}

// The images a domain's disks use now (live XML), by target.
export function domainImages(domain: string): Record<string, string> {
  const images: Record<string, string> = {};
  for (const line of virsh('domblklist', domain).split('\n').slice(2)) {
    const [target, source] = line.trim().split(/\s+/);
    if (target && source && source !== '-') images[target] = source;
  }
  return images;
}

// The QEMU process of a running domain (its pid file): the same PID before and after means never restarted.
export function domainQemuPid(domain: string): number | undefined {
  try {
    return Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function removeDomain(domain: string): void {
  virshResult('destroy', domain);
  virshResult('undefine', domain);
}

export function largest(counters: Counters): number {
  return Math.max(counters.vda0, counters.vda64, counters.vdb1);
}

export function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

// A recovered domain's serial console: a file of its own beside the original's (docs/instant-recovery.md), '' until it writes.
export function recoveredConsole(guestDir: string, domain: string): string {
  const file = path.join(guestDir, `${domain}-console.log`);
  return exists(file) ? readFileSync(file, 'utf8') : '';
}

/** What a process listens on: Unix socket paths and TCP ports (from /proc/net, by its sockets' inodes). */
export interface Listening {
  readonly sockets: string[];
  readonly ports: number[];
}

export function listeningOf(pid: number): Listening {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; flags 00010000 = listening.
  const sockets = readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === '00010000' && inodes.has(fields[6]!) && fields[7] !== undefined)
    .map((fields) => fields[7]!);
  // /proc/net/tcp{,6}: sl local_address rem_address st ... inode (10th); st 0A = LISTEN.
  const ports = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
    readFileSync(table, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === '0A' && inodes.has(fields[9]!))
      .map((fields) => parseInt(fields[1]!.split(':').at(-1)!, 16)),
  );
  return { sockets, ports };
}

// The backing file each overlay of a running recovered domain names (what its QEMU reads the point through).
export function overlayBackings(domain: string): string[] {
  return Object.values(domainImages(domain)).map(
    (overlay) =>
      (
        JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', overlay], { encoding: 'utf8' })) as {
          'backing-filename': string;
        }
      )['backing-filename'],
  );
}

// nobody (inside a network namespace, if named) reading and writing an NBD URL: each one's exit status.
export function nobodyTries(
  url: string,
  netns?: string,
): { readonly read: SpawnSyncReturns<string>; readonly write: SpawnSyncReturns<string> } {
  const as = (argv: readonly string[]) => {
    const [command, ...args] = [
      ...(netns === undefined ? [] : ['ip', 'netns', 'exec', netns]),
      'setpriv',
      ...asNobody(argv),
    ];
    return spawnSync(command!, args, { encoding: 'utf8' });
  };
  return { read: as(['nbdinfo', '--size', url]), write: as(['qemu-io', '-f', 'raw', '-c', 'write -P 0x66 0 4k', url]) };
}

// Each backing URL, and each of their exports on every socket and port given.
export function endpointUrls(
  backings: readonly string[],
  sockets: readonly string[],
  ports: readonly number[],
): string[] {
  const exports = backings.map((backing) => decodeURIComponent(new URL(backing).pathname.slice(1)));
  return [
    ...backings,
    ...sockets.flatMap((socket) => exports.map((name) => `nbd+unix:///${name}?socket=${socket}`)),
    ...ports.flatMap((port) => exports.map((name) => `nbd://127.0.0.1:${port}/${name}`)),
  ];
}
