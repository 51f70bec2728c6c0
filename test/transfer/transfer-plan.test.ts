// The transfer plan, built in one place: what a turn asks becomes the request the node transfer
// gets (targets, the disks qemu-img copies, align, tuning, rate), and the VMware client's own
// program is run as its source gave it.

import { describe, expect, it } from 'vitest';
import { servedTarget, transferPlan, type TransferAsk } from '../../src/transfer/transfer-plan.js';
import { transferArgv } from '../../src/wire/index.js';

const here = { isLocal: true };
const copied = { key: 2000, file: '/repo/vm/disk-2000/b1.qcow2', exportName: 'vm-disk-2000', copiedHere: true };
const served = { key: 2001, file: '/repo/vm/disk-2001/b1.qcow2', exportName: 'vm-disk-2001', socket: '/tmp/s/d.sock' };

describe('the transfer plan of a turn', () => {
  it("a local full's disk create-qcow2 chose is copied by qemu-img into its file; a served one goes to the hub's export", () => {
    const ask: TransferAsk = {
      jobId: 'run-1',
      reads: {
        kind: 'node-transfer',
        reads: [
          { key: 2000, source: { kind: 'qemu', path: '/vms/d0.img', format: 'raw' } },
          { key: 2001, source: { kind: 'qemu', path: '/vms/d1.qcow2', format: 'qcow2' } },
        ],
      },
      targets: new Map([copied, served].map((disk) => [disk.key, servedTarget(disk, here)])),
    };
    const program = transferPlan(ask, { tuning: { inFlight: 8, connections: 2 } });
    expect(program).toStrictEqual({
      kind: 'node-transfer',
      request: {
        jobId: 'run-1',
        disks: [
          {
            key: 2000,
            source: { kind: 'qemu', path: '/vms/d0.img', format: 'raw' },
            target: { kind: 'file', path: copied.file, format: 'qcow2' },
            copy: 'qemu-img',
          },
          {
            key: 2001,
            source: { kind: 'qemu', path: '/vms/d1.qcow2', format: 'qcow2' },
            target: { kind: 'nbd', url: 'nbd+unix:///vm-disk-2001?socket=/tmp/s/d.sock' },
          },
        ],
        parallelDisks: 2,
        inFlight: 8,
        connections: 2,
      },
    });
    expect(transferArgv(program.kind === 'node-transfer' ? program.request : { disks: [] })).toContain('2000=qemu-img');
  });

  it('aligned blocks, holes as zeroes, no digests and the starting rate reach the request; the environment is kept', () => {
    const program = transferPlan(
      {
        jobId: 'run-2',
        reads: {
          kind: 'node-transfer',
          reads: [{ key: 7, source: { kind: 'vsphere', listFile: '/tmp/l/7.json' } }],
          env: { SENDENSE_VSPHERE_COOKIE: 'c' },
        },
        targets: new Map([[7, { target: { kind: 'nbd', url: 'nbd://127.0.0.1:10100/x' } }]]),
        align: 65536,
        zeroHoles: true,
        digests: false,
      },
      { rate: 1048576 },
    );
    expect(program).toMatchObject({
      kind: 'node-transfer',
      request: { align: 65536, zeroHoles: true, digests: false, rate: 1048576 },
      env: { SENDENSE_VSPHERE_COOKIE: 'c' },
    });
    // Unmarked: the node transfer copies it over NBD.
    expect(program.kind === 'node-transfer' ? program.request.disks[0]! : {}).not.toHaveProperty('copy');
  });

  it("the VMware client's program is run as its source gave it: nothing of the turn is added", () => {
    const reads = { kind: 'external-client', command: ['sendense-backup-client', '--x'], env: { P: 's' } } as const;
    const program = transferPlan(
      { jobId: 'run-3', reads, targets: new Map(), align: 65536 },
      { tuning: { inFlight: 8, connections: 2 }, rate: 5 },
    );
    expect(program).toStrictEqual(reads);
  });

  it('a disk read without a target is a bug, said as one', () => {
    const ask: TransferAsk = {
      jobId: 'run-4',
      reads: { kind: 'node-transfer', reads: [{ key: 9, source: { kind: 'nbd', url: 'nbd://127.0.0.1:1/x' } }] },
      targets: new Map(),
    };
    expect(() => transferPlan(ask)).toThrow('the transfer plan has no target for disk 9');
  });
});
