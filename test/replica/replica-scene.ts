// The scene of the libvirt replication tests (./replicate-libvirt.test.ts, the syncs;
// ./replicate-libvirt-crash.test.ts and ./replicate-libvirt-crash-inside.test.ts, kill -9 at every
// moment of one): the busybox guest writing all the time, two real sshd on 127.0.0.1 as the source
// and the replica node (each its own SSH link from the hub), and a replicate plan keeping 3 points.
// One guest per file, so vitest runs the files at once.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { stringify } from 'yaml';
import {
  readCounters,
  startGuest,
  virsh,
  virshResult,
  type Counters,
  type TestGuest,
} from '../support/libvirt-guest.js';
import { NotedProcesses, identify, killIfAlive } from '../support/processes.js';
import { processesTaggedBy, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

export interface PointRow {
  readonly id: string;
  readonly status: string;
  readonly type: string;
  readonly disks: readonly { readonly changeId: string | null; readonly layer: string }[];
}

export interface ReplicaScene {
  readonly ports: [number, number];
  readonly ws: ReturnType<typeof useRunWorkspace>;
  /** CLI processes a test started: killed after it, with whatever they left tagged. */
  readonly noted: NotedProcesses;
  readonly seen: Set<number>;
  readonly guest: () => TestGuest;
  readonly plan: () => string;
  readonly replicaDir: () => string;
  readonly replicaDomain: string;
  replicaPath(key: number): string;
  replicaCounters(): Counters;
  ourCheckpoints(): string[];
  points(): PointRow[];
  complete(): PointRow[];
  /** One sync that must succeed; the replica point it made. */
  sync(): Promise<string>;
  letGuestWrite(rounds?: number): Promise<void>;
  /** Files beside replica.path that are neither it nor the layer (or manifest) of a complete point. */
  strayReplicaFiles(): string[];
}

// Registers the scene's hooks (guest `name`, replica domain `${name}-replica`); call at a file's top level.
export function useReplicaScene(name: string): ReplicaScene {
  const ports = portRangeForTestFile();
  const ws = useRunWorkspace(`${name}-`, { per: 'file' });
  const noted = new NotedProcesses();
  const seen = new Set<number>();
  const replicaDomain = `sendense-test-${name}-replica`;
  let guest: TestGuest;
  let sourceNode: TestSshd;
  let replicaNode: TestSshd;
  let plan: string;
  let replicaDir: string;

  const nodeBlock = (sshd: TestSshd) => ({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHosts: sshd.knownHosts,
  });
  const replicaPath = (key: number) => path.join(replicaDir, `repl-${key}.qcow2`);

  beforeAll(async () => {
    [guest, sourceNode, replicaNode] = await Promise.all([startGuest({ name }), startSshd(), startSshd()]);
    const scratch = path.join(guest.dir, 'scratch');
    mkdirSync(scratch, { mode: 0o755 });
    // Under the guest's 0755 directory: the replica domain's QEMU must reach it.
    replicaDir = path.join(guest.dir, 'replica');
    mkdirSync(replicaDir, { mode: 0o755 });
    plan = path.join(ws.dir, 'repl.yaml');
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'replicate',
        name: `${name}-5min`,
        vm: { name, source: { type: 'libvirt', domain: guest.name, scratch } },
        node: nodeBlock(sourceNode),
        replica: {
          node: nodeBlock(replicaNode),
          path: path.join(replicaDir, 'repl-{key}.qcow2'),
          points: 3,
          domain: replicaDomain,
          scratch,
        },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );
  }, 180_000);
  afterEach(() => {
    noted.killAll();
    for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
    seen.clear();
  });
  afterAll(async () => {
    if (virshResult('domstate', replicaDomain).status === 0) {
      virshResult('destroy', replicaDomain);
      virshResult('undefine', replicaDomain);
    }
    guest?.remove();
    await sourceNode?.stop();
    await replicaNode?.stop();
  });

  const points = (): PointRow[] => {
    const rows = tableRows(ws.db, 'replica_points') as unknown as { id: string; status: string; type: string }[];
    const disks = tableRows(ws.db, 'replica_point_disks') as unknown as {
      point_id: string;
      change_id: string | null;
      layer: string;
      disk_key: number;
    }[];
    return rows
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((row) => ({
        ...row,
        disks: disks
          .filter((disk) => disk.point_id === row.id)
          .sort((a, b) => a.disk_key - b.disk_key)
          .map((disk) => ({ changeId: disk.change_id, layer: disk.layer })),
      }));
  };
  const complete = () => points().filter((point) => point.status === 'complete');

  return {
    ports,
    ws,
    noted,
    seen,
    guest: () => guest,
    plan: () => plan,
    replicaDir: () => replicaDir,
    replicaDomain,
    replicaPath,
    replicaCounters: () => readCounters(replicaPath(2000), replicaPath(2001)),
    ourCheckpoints: () =>
      virsh('checkpoint-list', guest.name, '--name')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.startsWith('sendense-'))
        .sort(),
    points,
    complete,
    async sync() {
      const result = await sendenseRun([plan, '--db', ws.db]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      return /replica point (\S+)$/m.exec(result.stdout)![1]!;
    },
    async letGuestWrite(rounds = 2) {
      const from = guest.rounds();
      while (guest.rounds() < from + rounds) await new Promise((resolve) => setTimeout(resolve, 200));
    },
    strayReplicaFiles() {
      // Each complete point's layer and its manifest (docs/replication.md#digests).
      const layers = new Set(
        complete().flatMap((point) =>
          point.disks.flatMap((disk) => [
            path.basename(disk.layer),
            path.basename(disk.layer).replace(/\.qcow2$/, '.json'),
          ]),
        ),
      );
      return readdirSync(replicaDir).filter(
        (file) => !layers.has(file) && file !== 'repl-2000.qcow2' && file !== 'repl-2001.qcow2',
      );
    },
  };
}
