// A replica's points carry digests (docs/replication.md#digests): each sync writes a manifest beside
// every point's layer with the digests of what the node transfer sent, a fold keeps them right, and
// `replicas --verify` reads the layers on the replica node and finds 1 MiB written into a point
// behind our back (here as root with qemu-io), naming the point and the offset. Once with the
// replica on this host, once on a node over a real sshd.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { removeDomain } from '../libvirt/recover-support.js';
import { ensureLibvirtd } from '../support/libvirt-guest.js';
import { NotedProcesses } from '../support/processes.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-digests-');
let sshd: TestSshd;

beforeAll(async () => {
  sshd = await startSshd();
}, 60_000);
afterAll(async () => {
  await sshd?.stop();
});

function setUp(overSsh: boolean, points: number, domain?: string) {
  const source = path.join(ws.dir, 'source.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', source, '32M']);
  const replicaDir = path.join(ws.dir, 'replica');
  mkdirSync(replicaDir);
  const plan = path.join(ws.dir, 'replicate.yaml');
  const node = {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHosts: sshd.knownHosts,
  };
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'qvm-replica',
      vm: { name: 'qvm', source: { type: 'qemu', disks: [{ key: 2000, path: source, format: 'qcow2' }] } },
      replica: {
        ...(overSsh ? { node } : {}),
        path: path.join(replicaDir, 'qvm-{key}.qcow2'),
        points,
        scratch: ws.dir,
        // Software emulation: a host without /dev/kvm defines it too.
        ...(domain === undefined ? {} : { domain, definition: { memory: '64MiB', vcpus: 1, virtualization: 'qemu' } }),
      },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  // Round n: 3 MiB of data at n MiB (each round cuts the one before), 64 KiB of zeroes at 20+n MiB.
  const write = (round: number) =>
    execFileSync('qemu-io', ['-c', `write -P ${round} ${round}M 3M`, '-c', `write -z ${round + 20}M 64k`, source], {
      stdio: 'ignore',
    });
  const layer = (pointId: string) => path.join(replicaDir, `qvm-2000.${pointId}.qcow2`);
  const sync = async (): Promise<string> => {
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    return /replica point (\S+)$/m.exec(result.stdout)![1]!;
  };
  const verify = () => sendenseRun(['replicas', '--verify', plan, '--db', ws.db]);
  return { source, replicaDir, plan, write, layer, sync, verify };
}

// 1 MiB written into a point's own file as root would (another user there, a bug, a disk error).
function writeBehindOurBack(layer: string, offset: number): void {
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0xee ${offset} 1M`, layer], { stdio: 'ignore' });
}

describe.each([
  ['on this host', false],
  ['over SSH', true],
])('the replica %s', (_where, overSsh) => {
  it('verify says all good after syncs; 1 MiB written into a point is reported with its point and offset (exit 1)', async () => {
    const { write, layer, sync, verify } = setUp(overSsh, 3);
    write(1);
    const first = await sync();
    write(2);
    const second = await sync();
    const good = await verify();
    expect(good.exitCode, `${good.stdout}\n${good.stderr}`).toBe(0);
    expect(good.stdout).toMatch(new RegExp(`point ${first} disk 2000: good`));
    expect(good.stdout).toMatch(new RegExp(`point ${second} disk 2000: good`));
    expect(good.stdout).toMatch(/^all good/m);

    // Into the data the first sync wrote there (1 MiB at 1 MiB).
    writeBehindOurBack(layer(first), MiB);
    const bad = await verify();
    expect(bad.exitCode, `${bad.stdout}\n${bad.stderr}`).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`point ${first} disk 2000: DAMAGED: data differs at guest offset ${MiB} `));
    expect(bad.stdout).toMatch(new RegExp(`point ${second} disk 2000: good`));
    expect(bad.stdout).toMatch(new RegExp(`^DAMAGED: 1 layer of point\\(s\\) ${first} `, 'm'));
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    // Where that sync wrote nothing (12 MiB): found too.
    writeBehindOurBack(layer(second), 12 * MiB);
    const worse = await verify();
    expect(worse.exitCode).toBe(1);
    expect(worse.stdout).toMatch(
      new RegExp(
        `point ${second} disk 2000: DAMAGED: data at guest offset ${12 * MiB} where the sync wrote none or zeroes`,
      ),
    );
  }, 180_000);

  it('folded points stay verifiable, and a write into a folded layer is found', async () => {
    const { source, replicaDir, write, layer, sync, verify } = setUp(overSsh, 2);
    const made: string[] = [];
    for (let round = 1; round <= 4; round++) {
      write(round);
      made.push(await sync());
    }
    // Two kept: the oldest is the first three folded together.
    expect(readdirSync(replicaDir).filter((file) => file.endsWith('.qcow2'))).toHaveLength(3);
    expect(imagesEqual(source, path.join(replicaDir, 'qvm-2000.qcow2'))).toBe(true);
    const good = await verify();
    expect(good.exitCode, `${good.stdout}\n${good.stderr}`).toBe(0);
    expect(good.stdout).toMatch(new RegExp(`point ${made[2]} disk 2000: good`));
    expect(good.stdout).toMatch(new RegExp(`point ${made[3]} disk 2000: good`));
    // The first round's data survives at 1 MiB only in the folded layer.
    writeBehindOurBack(layer(made[2]!), MiB);
    const bad = await verify();
    expect(bad.exitCode, `${bad.stdout}\n${bad.stderr}`).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`point ${made[2]} disk 2000: DAMAGED: data differs at guest offset ${MiB} `));
  }, 240_000);
});

describe('the replica on this host', () => {
  it('a fold killed after its manifest was written: doctor finishes it and the points verify', async () => {
    const { source, plan, write, sync, verify } = setUp(false, 2);
    write(1);
    await sync();
    write(2);
    await sync();
    write(3);
    const cli = startSendenseRun([plan, '--db', ws.db], killAtEnv('replica.fold-manifest-written'));
    expect((await cli.exited).signal).toBe('SIGKILL');
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    expect(doctor.stdout).toMatch(/the fold is finished/);
    const good = await verify();
    expect(good.exitCode, `${good.stdout}\n${good.stderr}`).toBe(0);
    expect(good.stdout).toMatch(/^all good/m);
    expect(good.stdout).not.toMatch(/no digests/);
    expect(imagesEqual(source, path.join(ws.dir, 'replica', 'qvm-2000.qcow2'))).toBe(true);
  }, 180_000);

  it('points made before replicas had digests: "no digests", not damage; the next sync\u2019s point has them', async () => {
    const { replicaDir, write, sync, verify } = setUp(false, 3);
    write(1);
    const old = await sync();
    // What an earlier version left: the layer alone.
    for (const file of readdirSync(replicaDir).filter((name) => name.endsWith('.json')))
      rmSync(path.join(replicaDir, file));
    const before = await verify();
    expect(before.exitCode, `${before.stdout}\n${before.stderr}`).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`point ${old} disk 2000: no digests \\(made before this version\\)`));
    write(2);
    const next = await sync();
    const after = await verify();
    expect(after.exitCode, `${after.stdout}\n${after.stderr}`).toBe(0);
    expect(after.stdout).toMatch(new RegExp(`point ${next} disk 2000: good`));
    expect(after.stdout).toMatch(new RegExp(`point ${old} disk 2000: no digests`));
  }, 180_000);
});

describe('failover of a point that differs from its digests', () => {
  const domain = 'sendense-test-digests-replica';
  const started = new NotedProcesses();
  // Its replica domain is defined on this host's libvirt: started when none answers, and this run
  // noted as using it, so another vitest run's teardown (CI runs three at once) leaves it running.
  beforeAll(() => ensureLibvirtd(), 60_000);
  afterEach(async () => {
    started.killAll();
    await sendenseRun(['doctor', '--db', ws.db]);
    removeDomain(`${domain}-test`);
    removeDomain(domain);
  });

  it('is refused, real and --test, naming point and offset, and nothing starts; --force starts the test with a warning', async () => {
    // The test domain's QEMU (another user) must reach the replica's directory.
    chmodSync(ws.dir, 0o755);
    const { replicaDir, plan, write, layer, sync } = setUp(false, 3, domain);
    write(1);
    const point = await sync();
    writeBehindOurBack(layer(point), MiB);
    const files = readdirSync(replicaDir).sort();
    for (const args of [[], ['--test']]) {
      const refused = await sendenseRun(['failover', plan, ...args, '--db', ws.db]);
      expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `point ${point} differs from the digests .*point ${point} disk 2000: data differs at guest offset ${MiB} .*nothing started`,
        ),
      );
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      // No overlay, no domain, no failover recorded: the next sync still runs.
      expect(readdirSync(replicaDir).sort()).toEqual(files);
    }
    const listed = await sendenseRun(['replicas', '--db', ws.db]);
    expect(listed.stdout).not.toMatch(/FAILED OVER/);

    const forced = startSendenseRun(['failover', plan, '--test', '--force', '--db', ws.db]);
    started.add(forced.pid);
    await forced.waitForEvent((event) => event.type === 'test-running');
    process.kill(forced.pid, 'SIGTERM');
    const ended = await forced.exited;
    expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).toBe(0);
    expect(ended.stderr).toMatch(
      new RegExp(`^WARNING: --force: starting point ${point} although it differs .*guest offset ${MiB} `, 'm'),
    );
  }, 180_000);
});
