// scripts/demo.sh --libvirt after its setup (scripts/demo-libvirt.sh, the part that is the demo):
// a real libvirt guest backed up while it runs, restored, verified and compared byte for byte,
// with the shipped demo plans (copies pointing at this test's folder instead of /var/lib/sendense),
// and the guest gone afterwards whichever way the demo ends: done, or Ctrl+C in the middle.
// libvirtd is the suite's (ensureLibvirtd): the demo finds it answering, uses it and leaves it
// running; its own start and stop of the daemons (no systemd) is not run here, where other test
// files share them.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  countersAreOnePointInTime,
  ensureLibvirtd,
  libvirtdAnswers,
  virshResult,
  waitFor,
} from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { CHECKOUT } from '../packaging/installed-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('demo-libvirt-');
const ports = portRangeForTestFile(8);
const DOMAIN = 'sendense-demo';
const GUEST_DIR = '/var/lib/libvirt/images/sendense-demo';

// The shipped demo plans, their /var/lib/sendense paths moved into `state`, with this file's ports.
function demoPlans(state: string): string {
  for (const name of ['sendense-demo-live.yaml', 'sendense-demo-restore.yaml']) {
    const text = readFileSync(path.join(CHECKOUT, 'plans', name), 'utf8').replaceAll('/var/lib/sendense/', `${state}/`);
    writeFileSync(path.join(ws.dir, name), `${text}\nnbd:\n  ports: ${ports[0]}-${ports[1]}\n`);
  }
  return ws.dir;
}

function demo(state: string) {
  return execa(path.join(CHECKOUT, 'scripts', 'demo-libvirt.sh'), [], {
    reject: false,
    all: true,
    detached: true,
    env: {
      SENDENSE_DB: path.join(state, 'sendense.db'),
      SENDENSE_DEMO_STATE: state,
      SENDENSE_DEMO_PLANS: demoPlans(state),
      CI: '1',
    },
  });
}

const domainExists = () => virshResult('domstate', DOMAIN).status === 0;
const plain = (text: string) => stripVTControlCharacters(text);

describe.skipIf(process.getuid?.() !== 0)('demo.sh --libvirt (scripts/demo-libvirt.sh)', () => {
  beforeAll(() => ensureLibvirtd(), 120_000);

  it('backs up a running guest, restores it verified and identical, and removes the guest', async () => {
    const state = path.join(ws.dir, 'state');
    const result = await demo(state);
    const output = plain(result.all ?? '');
    expect(result.exitCode, output).toBe(0);
    // A full and an incremental of the running guest, then one of it shut off.
    expect(output).toMatch(/== run 1: full backup of the running guest[\s\S]*succeeded in .*backup \S+/);
    expect([...output.matchAll(/^run \S+ succeeded in .*, backup \S+$/gm)]).toHaveLength(3);
    // The point restored while it ran holds one instant of its disks, checked against the digests.
    const instant =
      /the restored disks hold one instant of the running guest: vda@0 round (\d+), vda@64MiB round (\d+), vdb@1MiB round (\d+)/.exec(
        output,
      );
    expect(instant, output).not.toBeNull();
    const [vda0, vda64, vdb1] = instant!.slice(1, 4).map(Number) as [number, number, number];
    expect(vda64).toBeGreaterThan(0);
    expect(countersAreOnePointInTime({ vda0, vda64, vdb1 }), instant![0]).toBe(true);
    expect(output).toMatch(/\[verify\] 2 disk\(s\) identical to backup/);
    // The restore of the shut-off guest equals its disks byte for byte.
    for (const [disk, key] of [
      ['vda', 2000],
      ['vdb', 2001],
    ] as const)
      expect(output).toContain(
        `disk ${key} (${disk}): ${state}/restore/sendense-demo-${key}.qcow2 is identical to ${GUEST_DIR}/${disk}.qcow2`,
      );
    // Gone afterwards; libvirtd, which answered before, still answers.
    expect(output).toContain(`removed the demo domain ${DOMAIN}`);
    expect(domainExists()).toBe(false);
    expect(existsSync(GUEST_DIR)).toBe(false);
    expect(libvirtdAnswers()).toBe(true);
  }, 900_000);

  it('removes the guest when interrupted (Ctrl+C) while the guest runs', async () => {
    const state = path.join(ws.dir, 'interrupted');
    const running = demo(state);
    let seen = '';
    running.all!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await waitFor(() => seen.includes('booted and writing'), 600_000, 'the demo guest to boot');
    expect(domainExists()).toBe(true);
    // Ctrl+C: SIGINT to the demo's whole process group, as a terminal sends it.
    process.kill(-running.pid!, 'SIGINT');
    const result = await running;
    expect(result.exitCode, plain(result.all ?? '')).toBe(130);
    expect(plain(result.all ?? '')).toContain(`removed the demo domain ${DOMAIN}`);
    expect(domainExists()).toBe(false);
    expect(existsSync(GUEST_DIR)).toBe(false);
  }, 900_000);
});
