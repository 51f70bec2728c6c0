// `sendense-run serve --node`: a point served on a node (a real sshd on 127.0.0.1) through the SSH
// tunnel, its URLs Unix sockets in a private directory on the node (with --tcp its 127.0.0.1 ports, TLS end to end); a lost connection ends serving; an unknown host key
// refused before anything runs.

import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backUpVm, type BackedUpVm } from '../restore/restore-chain.js';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { DEADLINE_UNDER_LOAD_MS, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { asNobody } from '../support/other-user-cli.js';
import { accepts, exportDifference, portOf, socketOf, useServes, writeHubConfig } from './serve-cli.js';

const ws = useRunWorkspace('serve-node-', { per: 'file' });
const ports = portRangeForTestFile(20);
let vm: BackedUpVm;
let hubConfig: string;
let sshd: TestSshd | undefined;
const serves = useServes(() => path.join(ws.dir, 'state.db'));

beforeAll(async () => {
  sshd = await startSshd();
  vm = await backUpVm(ws.dir, { vm: 'nvm', ports, points: 2 });
  hubConfig = writeHubConfig(ws.dir, ports);
}, 300_000);

afterAll(async () => {
  await sshd?.stop();
});

const nodeOptions = (knownHosts: string) => [
  '--node',
  `${sshd!.user}@${sshd!.host}:${sshd!.port}`,
  '--identity',
  sshd!.identityFile,
  '--known-hosts',
  knownHosts,
];

describe('serve --node', () => {
  it('serves each disk on the node through the tunnel: the URL is a socket in a private directory there, which nobody else opens', async () => {
    const serve = serves.start(
      ['nvm', '--writable', ...nodeOptions(sshd!.knownHosts), '--db', vm.db, '--hub-config', hubConfig],
      2,
    );
    const disks = await serve.serving;
    expect(leasedPorts(vm.db)).toEqual([]);
    // The node is this host: its end is the SSH user's directory, not the hub's.
    const nodeDir = path.dirname(socketOf(disks[0]!.url));
    expect(nodeDir).toMatch(/\/sendense-tunnel-[^/]+$/);
    expect(statSync(nodeDir).mode & 0o777).toBe(0o700);
    for (const disk of disks) {
      expect(path.dirname(socketOf(disk.url))).toBe(nodeDir);
      expect(exportDifference(disk.url, vm.copies[1]![disk.key]!), `disk ${disk.key} through ${disk.url}`).toBe('');
    }
    // Another user of the node: neither a read nor a write gets through (docs/instant-recovery.md).
    const read = spawnSync('setpriv', asNobody(['nbdinfo', '--size', disks[0]!.url]), { encoding: 'utf8' });
    expect(read.status).not.toBe(0);
    expect(read.stderr).toMatch(/permission denied/i);
    const write = spawnSync('setpriv', asNobody(['qemu-io', '-f', 'raw', '-c', 'write -P 0x66 0 1M', disks[0]!.url]), {
      encoding: 'utf8',
    });
    expect(write.status).not.toBe(0);
    expect(exportDifference(disks[0]!.url, vm.copies[1]![2000]!)).toBe('');
    const recorded = recordedProcesses(vm.db);
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toContain(`on ${sshd!.user}@${sshd!.host}:${sshd!.port}`);
    for (const server of recorded)
      expect(await waitForProcessGone(server.pid, DEADLINE_UNDER_LOAD_MS, server.startTicks)).toBe(true);
    for (const disk of disks) expect(await accepts(disk.url), `node socket of ${disk.url}`).toBe(false);
    expect(existsSync(nodeDir)).toBe(false);
    expect(leasedPorts(vm.db)).toEqual([]);
    expect(recordedProcesses(vm.db)).toEqual([]);
  });

  it('--tcp: a node port carrying NBD TLS end to end; the key stays on the hub', async () => {
    const serve = serves.start(
      ['nvm', '--tcp', '--disk', '2001', ...nodeOptions(sshd!.knownHosts), '--db', vm.db, '--hub-config', hubConfig],
      1,
    );
    const [disk] = await serve.serving;
    const leased = leasedPorts(vm.db).map((lease) => lease.port);
    expect(leased).toHaveLength(1);
    // The hub's port is taken here by its qemu-nbd, so the node (this host too) got another one.
    expect(leased).not.toContain(portOf(disk!.url));
    const copy = path.join(ws.dir, 'node-tcp.raw');
    const fetched = spawnSync('nbdcopy', [disk!.url, copy], { encoding: 'utf8' });
    expect(fetched.status, fetched.stderr).toBe(0);
    expect(exportDifference(copy, vm.copies[1]![2001]!)).toBe('');
    rmSync(copy);
    const plain = spawnSync('nbdinfo', ['--size', `nbd://127.0.0.1:${portOf(disk!.url)}/nvm-disk-2001`], {
      encoding: 'utf8',
    });
    expect(plain.status).not.toBe(0);
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(
      /NBD TLS: a client needs the pre-shared key in \S+keys\.psk \(on this host: copy it to /,
    );
    expect(leasedPorts(vm.db)).toEqual([]);
  });

  it('a lost SSH connection ends serving in one line, exit 1, with everything given back', async () => {
    const serve = serves.start(['nvm', ...nodeOptions(sshd!.knownHosts), '--db', vm.db, '--hub-config', hubConfig], 2);
    await serve.serving;
    const recorded = recordedProcesses(vm.db);
    expect(await sshd!.killSessions()).not.toEqual([]);
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(1);
    expect(exit.stderr).toMatch(/the tunnel to .* is gone .*: its URLs no longer answer; serving stopped/);
    expect(exit.stderr).not.toMatch(/\n\s+at /);
    for (const server of recorded)
      expect(await waitForProcessGone(server.pid, DEADLINE_UNDER_LOAD_MS, server.startTicks)).toBe(true);
    expect(leasedPorts(vm.db)).toEqual([]);
    expect(recordedProcesses(vm.db)).toEqual([]);
  });

  it('refuses a node whose host key is not in --known-hosts, in one line, leaving nothing', async () => {
    const empty = path.join(ws.dir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const result = await sendenseRun(['serve', 'nvm', ...nodeOptions(empty), '--db', vm.db, '--hub-config', hubConfig]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/host key/i);
    expect(leasedPorts(vm.db)).toEqual([]);
    expect(recordedProcesses(vm.db)).toEqual([]);
  });
});
