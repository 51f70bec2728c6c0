// Failback with the source node and the replica node each over SSH (docs/replication.md#failback;
// the scene of ./replica-scene.ts: two real sshd on 127.0.0.1): the original's checkpoint bitmap
// travels to the replica node in a carrier image, the copy goes through the hub's relay to the
// original's qemu-nbd and the replica node's tunnel to it. Killed with every disk copied: the
// original's disks are the standby's byte for byte, and the next failback finishes.

import { execFileSync, spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { killAtEnv } from '../../src/crash-points.js';
import { readCounter, virsh, virshResult, waitFor } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { useReplicaScene } from './replica-scene.js';

const MiB = 1024 * 1024;
const LOST_AT = 100 * MiB;
const scene = useReplicaScene('fbssh');
const state = (domain: string) => virshResult('domstate', domain).stdout.trim();
const sameContent = (a: string, b: string) =>
  spawnSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'qcow2', a, b]).status === 0;

it('over SSH on both sides: only the changes are copied, the original equals the standby byte for byte, the syncs go on', async () => {
  const { ws } = scene;
  const guest = scene.guest();
  const original = (key: number) => guest.images[key === 2000 ? 'vda' : 'vdb']!;
  await scene.letGuestWrite();
  await scene.sync();
  await scene.letGuestWrite();
  const point = await scene.sync();
  guest.destroy();
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${LOST_AT} 64k`, original(2000)], { stdio: 'ignore' });

  const failover = await sendenseRun(['failover', scene.plan(), '--db', ws.db]);
  expect(failover.exitCode, `${failover.stdout}\n${failover.stderr}`).toBe(0);
  const from = guest.consoleText().length;
  await waitFor(
    () =>
      (
        guest
          .consoleText()
          .slice(from)
          .match(/^W \d+ /gm) ?? []
      ).length >= 3,
    120_000,
    'the standby to write',
  );
  virsh('destroy', scene.replicaDomain);

  const killed = await sendenseRun(['failback', scene.plan(), '--db', ws.db], killAtEnv('failback.copied'));
  expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
  expect(killed.stderr).not.toContain('every block');
  for (const key of [2000, 2001]) expect(sameContent(original(key), scene.replicaPath(key)), `disk ${key}`).toBe(true);
  expect(readCounter(original(2000), LOST_AT)).toBe(0);
  const doctor = await sendenseRun(['doctor', '--db', ws.db]);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  expect(tableRows(ws.db, 'node_resources')).toMatchObject([{ kind: 'failback' }]);
  expect([state(guest.name), state(scene.replicaDomain)]).toEqual(['shut off', 'shut off']);

  const back = guest.consoleText().length;
  const done = await sendenseRun(['failback', scene.plan(), '--json', '--db', ws.db]);
  expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
  expect(JSON.parse(done.stdout.trim())).toMatchObject({ type: 'failed-back', copy: 'none', pointId: point });
  expect(state(guest.name)).toBe('running');
  await waitFor(() => guest.consoleText().slice(back).includes('FIRST-WRITE'), 120_000, 'the original to write');
  await scene.sync();
  const verified = await sendenseRun(['replicas', '--verify', scene.plan(), '--db', ws.db]);
  expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  expect(tableRows(ws.db, 'node_resources')).toEqual([]);
}, 600_000);
