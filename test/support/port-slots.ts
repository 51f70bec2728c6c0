// NBD port ranges for tests that run qemu-nbd on leased ports. Below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 here), where the OS never hands a port to an
// outgoing connection or a listen(0): a PostgreSQL client's local port once took a test's range
// there. One range per claim across every test process on the machine (vitest's workers, another
// checkout's suite): a slot is claimed by an exclusive lock file naming its holder's PID and start
// time, and a dead holder's slot is taken over.

import { mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { isProcessAlive, processStartTicks } from '../../src/process/process-identity.js';

const FIRST = 20000;
const SLOT = 50;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FIRST + SLOT ? low : 32768;
  } catch {
    return 32768;
  }
}

const lockDir = path.join(tmpdir(), `sendense-test-port-slots-${userInfo().uid}`);

// Another suite's teardown removes the folder once it holds no claim (sweepPortSlots): made again
// when a claim finds it gone, so a suite starting as another ends never fails on ENOENT.
function createExclusive(file: string, holder: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(file, holder, { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 10) throw error;
      mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    }
  }
}

function tryClaim(slot: number, holder: string): boolean {
  const file = path.join(lockDir, `${slot}.lock`);
  try {
    createExclusive(file, holder);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Held: taken over only if its holder is gone (one try; another claimer may win it).
  let pid = 0;
  let ticks = 0;
  try {
    [pid, ticks] = readFileSync(file, 'utf8').split(' ').map(Number) as [number, number];
  } catch {
    return false;
  }
  if (isProcessAlive(pid, ticks)) return false;
  rmSync(file, { force: true });
  try {
    createExclusive(file, holder);
    return true;
  } catch {
    return false;
  }
}

// The slots this process holds are given back when it exits normally; vitest's workers are
// stopped by a signal instead, so the suite's global teardown sweeps what dead holders left.
const held: string[] = [];
function release(file: string): void {
  if (held.push(file) === 1) process.once('exit', () => held.forEach((claimed) => rmSync(claimed, { force: true })));
}

/** Removes the lock files whose holders are gone (the suite's global teardown). */
export function sweepPortSlots(): void {
  let names: string[];
  try {
    names = readdirSync(lockDir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = path.join(lockDir, name);
    try {
      const [pid, ticks] = readFileSync(file, 'utf8').split(' ').map(Number) as [number, number];
      if (!isProcessAlive(pid, ticks)) rmSync(file, { force: true });
    } catch {
      // gone meanwhile
    }
  }
  try {
    rmdirSync(lockDir);
  } catch {
    // still holds a live claim
  }
}

/** `size` consecutive ports (at most 50) no other test process on this machine holds. */
export function claimPortRange(size: number): [number, number] {
  if (size < 1 || size > SLOT) throw new Error(`claimPortRange: size ${size} is not 1-${SLOT}`);
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const slots = Math.floor((ephemeralLow() - FIRST) / SLOT);
  const holder = `${process.pid} ${processStartTicks(process.pid) ?? 0}`;
  const start = Math.floor(Math.random() * slots);
  for (let i = 0; i < slots; i++) {
    const slot = (start + i) % slots;
    if (tryClaim(slot, holder)) {
      release(path.join(lockDir, `${slot}.lock`));
      return [FIRST + slot * SLOT, FIRST + slot * SLOT + size - 1];
    }
  }
  throw new Error(`claimPortRange: all ${slots} port slots below ${ephemeralLow()} are held (${lockDir})`);
}
