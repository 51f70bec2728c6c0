// VMware sources through sendense-backup-client. There is no vCenter here, so the client is a
// FAKE (test/fixtures/fake-sendense-backup-client.mjs) with the real client's command line that
// plays a VM from qcow2 files; what is real: the engine, the NBD targets, the chain, the checks.

import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import {
  createDisk,
  differenceBetween,
  imageInfo,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const FAKE_CLIENT = path.resolve('test/fixtures/fake-sendense-backup-client.mjs');
const PASSWORD = 'Vc-pa55 word!with$pecial';
const PASSWORD_SHA256 = createHash('sha256').update(PASSWORD).digest('hex');
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('engine-vmware-');

function writeVmwarePlan(rate?: string, clientPath = FAKE_CLIENT): string {
  const plan = {
    version: 1,
    kind: 'incremental',
    name: 'vmw-nightly',
    vm: {
      name: 'vmw',
      source: {
        type: 'vmware',
        client: 'sendense-backup-client',
        endpoint: 'vcenter.example.test',
        username: 'backup@vsphere.local',
        passwordEnv: 'TEST_VCENTER_PASSWORD',
        path: ws.dir,
        clientPath,
        disks: [{ key: 2000 }, { key: 2001 }],
      },
    },
    repository: { path: path.join(ws.dir, 'repository') },
    nbd: { ports: `${first}-${last}` },
    ...(rate === undefined ? {} : { rate }),
  };
  const file = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

interface ClientCall {
  readonly argv: readonly string[];
  readonly password: string | null;
  readonly previous: string | null;
}

const calls = (): ClientCall[] =>
  readFileSync(path.join(ws.dir, 'calls.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ClientCall);

describe('VMware source (fake sendense-backup-client, no vCenter here)', () => {
  it('full then incremental are exact; the size comes from the client; the password only in its environment', async () => {
    const disks = [
      { key: 2000, file: createDisk(path.join(ws.dir, 'disk-2000.qcow2'), 64 * MiB + 3 * 512) },
      { key: 2001, file: createDisk(path.join(ws.dir, 'disk-2001.qcow2'), 32 * MiB) },
    ];
    writeDisk(disks[0].file, ['write -P 0x21 0 8M', `write -P 0x22 ${64 * MiB} 1536`]);
    writeDisk(disks[1].file, ['write -P 0x23 4M 4M']);
    const plan = writeVmwarePlan();
    const env = { TEST_VCENTER_PASSWORD: PASSWORD, FAKE_VCENTER_PASSWORD_SHA256: PASSWORD_SHA256 };

    for (let point = 1; point <= 2; point++) {
      if (point === 2) {
        writeDisk(disks[0].file, ['write -P 0x31 1M 2M', 'write -z 6M 1M', `write -P 0x32 ${64 * MiB + 1024} 512`]);
      }
      const result = await sendenseRun([plan, '--db', ws.db], env);
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
      const latest = (await listBackups(ws.db, 'vmw')).at(-1)!;
      expect(latest.type).toBe(point === 1 ? 'full' : 'incremental');
      for (const disk of disks) {
        const backup = latest.disks.find((d) => d.diskKey === disk.key)!;
        expect(backup.changeId).toMatch(/^52 66 8c 2d .*\/cbt-/);
        expect(imageInfo(backup.file)['virtual-size']).toBe(imageInfo(disk.file)['virtual-size']);
        const copy = keepCopy(disk.file, `${disk.file}.p${point}`);
        expect(differenceBetween(backup.file, copy), `disk ${disk.key} point ${point}`).toBe('');
      }
    }
    const [full, incremental] = calls();
    for (const call of [full, incremental]) {
      expect(call.argv.slice(0, 1)).toEqual(['migrate']);
      expect(call.argv.join(' ')).not.toContain(PASSWORD);
      expect(call.password).toBe(PASSWORD);
    }
    expect(full.previous).toBeNull();
    const fullBackup = (await listBackups(ws.db, 'vmw'))[0];
    expect(JSON.parse(incremental.previous!)).toEqual(
      Object.fromEntries(fullBackup.disks.map((disk) => [String(disk.diskKey), disk.changeId])),
    );
    expect(readFileSync(ws.db).includes(Buffer.from(PASSWORD))).toBe(false);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });

  it('a plan rate: the client takes none, and the run says its transfer is not limited (docs/bandwidth.md)', async () => {
    for (const key of [2000, 2001])
      writeDisk(createDisk(path.join(ws.dir, `disk-${key}.qcow2`), 8 * MiB), ['write -P 0x21 0 1M']);
    const result = await sendenseRun([writeVmwarePlan('1MiB/s'), '--db', ws.db, '--json'], {
      TEST_VCENTER_PASSWORD: PASSWORD,
      FAKE_VCENTER_PASSWORD_SHA256: PASSWORD_SHA256,
    });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const events = parseEvents(result.stdout) as (ReturnType<typeof parseEvents>[number] & { title?: string })[];
    expect(events.find((event) => event.type === 'step-start' && event.step === 'transfer')?.title).toMatch(
      /, not limited \(the VMware client takes no rate\)$/,
    );
    expect(events.filter((event) => event.type === 'warning').map((event) => event.message)).toContain(
      "the VMware client (sendense-backup-client) takes no rate: this transfer is not limited (the run's rate: limited to 1 MiB/s (plan rate))",
    );
  });

  it("a client that exits without a JSON error is named in the run's error, with its last words", async () => {
    createDisk(path.join(ws.dir, 'disk-2000.qcow2'), 8 * MiB);
    createDisk(path.join(ws.dir, 'disk-2001.qcow2'), 8 * MiB);
    const client = path.join(ws.dir, 'broken-client');
    writeFileSync(client, '#!/bin/sh\necho "cannot reach vcenter.example.test: connection refused" >&2\nexit 3\n');
    chmodSync(client, 0o755);
    const result = await sendenseRun([writeVmwarePlan(undefined, client), '--db', ws.db], {
      TEST_VCENTER_PASSWORD: PASSWORD,
      FAKE_VCENTER_PASSWORD_SHA256: PASSWORD_SHA256,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      /: step transfer: broken-client on this host exited with code 3: cannot reach vcenter\.example\.test: connection refused$/,
    );
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });

  it('a missing password variable is one clear error, before anything is taken', async () => {
    createDisk(path.join(ws.dir, 'disk-2000.qcow2'), 8 * MiB);
    createDisk(path.join(ws.dir, 'disk-2001.qcow2'), 8 * MiB);
    const result = await sendenseRun([writeVmwarePlan(), '--db', ws.db]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      'the vCenter password variable TEST_VCENTER_PASSWORD (vm.source.passwordEnv) is not set',
    );
    expect(existsSync(path.join(ws.dir, 'calls.jsonl'))).toBe(false);
    expect(existsSync(path.join(ws.dir, 'repository'))).toBe(false);
    expect(leasedPorts(ws.db)).toEqual([]);
  });

  it('a login the client refuses fails the run with its words and leaves no backup behind', async () => {
    createDisk(path.join(ws.dir, 'disk-2000.qcow2'), 8 * MiB);
    createDisk(path.join(ws.dir, 'disk-2001.qcow2'), 8 * MiB);
    const result = await sendenseRun([writeVmwarePlan(), '--db', ws.db], {
      TEST_VCENTER_PASSWORD: 'wrong',
      FAKE_VCENTER_PASSWORD_SHA256: PASSWORD_SHA256,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('vCenter login failed');
    expect((await listBackups(ws.db, 'vmw')).map((b) => b.status)).toEqual(['failed']);
    // Not even the directories a failed run created are left.
    expect(readdirSync(path.join(ws.dir, 'repository'))).toEqual(['.sendense-repository']);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
    expect(readFileSync(ws.db).includes(Buffer.from('wrong'))).toBe(false);
  });

  it('a client that echoes the password: masked on the terminal, in --json, in history and in the database', async () => {
    createDisk(path.join(ws.dir, 'disk-2000.qcow2'), 8 * MiB);
    createDisk(path.join(ws.dir, 'disk-2001.qcow2'), 8 * MiB);
    const secret = 'wrong-Hunter2-pass';
    const env = {
      TEST_VCENTER_PASSWORD: secret,
      FAKE_VCENTER_PASSWORD_SHA256: PASSWORD_SHA256,
      FAKE_CLIENT_ECHOES_PASSWORD: '1',
    };
    const plain = await sendenseRun([writeVmwarePlan(), '--db', ws.db], env);
    const json = await sendenseRun([writeVmwarePlan(), '--db', ws.db, '--json'], env);
    const history = await sendenseRun(['history', '--db', ws.db]);
    const historyJson = await sendenseRun(['history', '--db', ws.db, '--json']);
    for (const result of [plain, json]) {
      expect(result.exitCode).toBe(1);
      expect(`${result.stdout}${result.stderr}`).toContain('bad password ***');
    }
    expect(historyJson.stdout).toContain('bad password ***');
    for (const output of [plain, json, history, historyJson])
      expect(`${output.stdout}${output.stderr}`).not.toContain(secret);
    expect(readFileSync(ws.db).includes(Buffer.from(secret))).toBe(false);
    expect(existsSync(`${ws.db}-wal`) && readFileSync(`${ws.db}-wal`).includes(Buffer.from(secret))).toBe(false);
  });
});
