// The libvirt guest harness itself, on a real domain: it boots and writes its counters, a clean
// shut-off leaves them equal on both disks, a restart counts on from there, a filesystem freeze
// through the guest agent really freezes (the guest's loop stops), and remove() leaves nothing.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildGuestInitramfs,
  countersAreOnePointInTime,
  freezeStatusOf,
  guestKernelVersion,
  guestWriteLatencies,
  startGuest,
  virsh,
  virshResult,
  waitFor,
  type TestGuest,
} from './libvirt-guest.js';

let guest: TestGuest | undefined;
let bootSeconds = 0;

beforeAll(async () => {
  const started = Date.now();
  guest = await startGuest({ name: 'harness', fsDisk: true });
  bootSeconds = (Date.now() - started) / 1000;
}, 180_000);
afterAll(() => guest?.remove());

const theGuest = (): TestGuest => guest ?? expect.unreachable('no guest');

// Resolves once the guest has written `count` more rounds.
async function roundsGoOn(count: number): Promise<void> {
  const from = theGuest().rounds();
  await waitFor(() => theGuest().rounds() >= from + count, 30_000, `${count} more rounds`);
}

describe('the initramfs', () => {
  it('holds busybox, the init, the virtio and ext4 modules of the /boot kernel and qemu-ga', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sendense-initramfs-test-'));
    try {
      const out = path.join(dir, 'initrd.cpio');
      buildGuestInitramfs(out);
      const files = execFileSync('sh', ['-c', 'cpio -t --quiet < "$1"', 'sh', out], { encoding: 'utf8' }).split('\n');
      expect(files).toEqual(
        expect.arrayContaining([
          'init',
          'bin/busybox',
          'mods/virtio_blk.ko',
          'mods/virtio_console.ko',
          'mods/ext4.ko',
          'mods/jbd2.ko',
          'usr/sbin/qemu-ga',
        ]),
      );
      expect(existsSync(`/lib/modules/${guestKernelVersion()}`)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('countersAreOnePointInTime', () => {
  it('accepts exactly the states between and within rounds', () => {
    const at = (vda0: number, vda64: number, vdb1: number) => countersAreOnePointInTime({ vda0, vda64, vdb1 });
    for (const [a, b, c] of [
      [0, 0, 0],
      [1, 0, 0],
      [1, 1, 0],
      [7, 7, 7],
      [8, 7, 7],
      [7, 7, 6],
    ])
      expect(at(a!, b!, c!), `${a} ${b} ${c}`).toBe(true);
    for (const [a, b, c] of [
      [8, 7, 6],
      [7, 8, 8],
      [7, 7, 8],
      [9, 7, 7],
      [7, 7, 5],
      [6, 7, 7],
    ])
      expect(at(a!, b!, c!), `${a} ${b} ${c}`).toBe(false);
  });
});

describe('a test guest', () => {
  it('boots, mounts its fs disk, starts its agent and writes its counters, timing each round', async () => {
    const g = theGuest();
    console.log(`startGuest: ${bootSeconds.toFixed(1)} s to a guest that writes and whose agent answers`);
    expect(g.running()).toBe(true);
    expect(g.name).toBe('sendense-test-harness');
    for (const mark of ['GUEST-UP', 'FS-MOUNTED', 'AGENT-STARTED', 'RESUME 0', 'FIRST-WRITE'])
      expect(g.consoleText()).toContain(mark);
    await roundsGoOn(3);
    const latencies = guestWriteLatencies(g.consoleText());
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    expect(latencies.every((us) => us > 0 && us < 10_000_000)).toBe(true);
    console.log(`guest write rounds (3 synced 4 KiB O_DIRECT writes), µs: ${latencies.join(' ')}`);
    expect(g.counters().vda0).toBeGreaterThanOrEqual(3);
  });

  it('a filesystem freeze through the agent: status frozen, the loop stops; thawed, it goes on', async () => {
    const g = theGuest();
    expect(await freezeStatusOf(g.name)).toBe('thawed');
    expect(virsh('domfsfreeze', g.name)).toMatch(/Froze 1 filesystem/);
    try {
      expect(await freezeStatusOf(g.name)).toBe('frozen');
      // The round in flight may end its dd writes; its append to /mnt/log then blocks.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const frozenAt = g.rounds();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(g.rounds()).toBeLessThanOrEqual(frozenAt + 1);
    } finally {
      expect(virsh('domfsthaw', g.name)).toMatch(/Thawed 1 filesystem/);
    }
    expect(await freezeStatusOf(g.name)).toBe('thawed');
    await roundsGoOn(2);
  });

  it('destroyed, its counters are one point in time on both disks; started again, it counts on from vda', async () => {
    const g = theGuest();
    g.destroy();
    expect(g.running()).toBe(false);
    expect(virshResult('domstate', g.name).stdout.trim()).toBe('shut off');
    const off = g.counters();
    expect(off.vda0).toBeGreaterThan(0);
    // virsh destroy may land inside a round: vdb trails vda by one then, never more.
    expect(countersAreOnePointInTime(off)).toBe(true);

    const started = Date.now();
    await g.start();
    console.log(`restart: ${((Date.now() - started) / 1000).toFixed(1)} s to writing again, agent answering`);
    expect(g.consoleText()).toContain(`RESUME ${off.vda0}`);
    await roundsGoOn(2);
    expect(g.rounds()).toBeGreaterThan(off.vda0 + 1);
    expect(g.counters().vda64).toBeGreaterThan(off.vda64);
  });

  it('remove(): no domain, no files', () => {
    const g = theGuest();
    g.remove();
    guest = undefined;
    expect(virshResult('domstate', g.name).status).not.toBe(0);
    expect(existsSync(g.dir)).toBe(false);
  });
});
