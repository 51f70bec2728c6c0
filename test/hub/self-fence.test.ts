// A hub cut off from the shared PostgreSQL state stops its runs itself, before the other hubs take
// it for dead and free its VM lock: two hubs never back up the same VM at once. The run stops with
// one clear line, its qemu-nbd processes and half-written files go (they are local), and once the
// database is back, doctor on that hub records the rest; the next backup is exact.

import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cuttableProxy } from '../support/cuttable-proxy.js';
import { descendantPids, qemuNbdAmong } from '../support/process-tree.js';
import { identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { usePostgresServer } from '../support/store-dialects.js';
import { startNbdkit, useNbdServers } from '../support/qemu-nbd-server.js';
import { differenceBetween, portRangeForTestFile } from '../support/vm-disks.js';
import { stringify } from 'yaml';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('self-fence-');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function repositoryFiles(): string[] {
  if (!existsSync(ws.repository)) return [];
  return (readdirSync(ws.repository, { recursive: true }) as string[])
    .filter((name) => /\.(qcow2|json)$/.test(name))
    .sort();
}

describe('a hub cut off from PostgreSQL', () => {
  const postgres = usePostgresServer();
  const servers = useNbdServers();

  it('stops its run before it would be taken for dead; doctor records the rest once the database is back; the next backup is exact', async () => {
    const db = await postgres.server.createDatabase('fence');
    const proxy = await cuttableProxy(postgres.server.port);
    cleanups.push(() => proxy.close());
    const throughProxy = db.replace(`127.0.0.1:${postgres.server.port}/`, `127.0.0.1:${proxy.port}/`);
    expect(throughProxy).not.toBe(db);

    // A disk served at 8 MiB/s: 64 MiB take 8 s, so the run is mid-copy when the database goes.
    const server = await startNbdkit(
      ['--filter=rate', 'data', 'data=(0x5a)*67108864', 'size=64M', 'rate=64M'],
      path.join(ws.dir, 'kit.sock'),
    );
    servers.push(server);
    const plan = path.join(ws.dir, 'fence-nightly.yaml');
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'backup',
        name: 'fence-nightly',
        vm: { name: 'vmf', source: { type: 'nbd', disks: [{ key: 2000, url: server.url }] } },
        repository: { path: ws.repository },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );

    // Beats every 0.5 s: the others take this hub for dead after 3 s, it stops itself after 1.5 s.
    const cli = startSendenseRun([plan, '--db', throughProxy], { SENDENSE_HEARTBEAT_SECONDS: '0.5' });
    const cliProcess = identify(cli.pid);
    cleanups.push(() => killIfAlive(cliProcess));
    await cli.waitForEvent(
      (event) => event.type === 'progress' && event.bytesDone! > 0 && event.bytesDone! < event.bytesToDo!,
    );
    const qemuNbd = qemuNbdAmong(descendantPids(cli.pid));
    expect(qemuNbd.length).toBeGreaterThan(0);
    proxy.cut();
    const end = await cli.exited;

    const output = `${end.stdout}\n${end.stderr}`;
    expect(end.exitCode, output).toBe(1);
    const events = parseEvents(end.stdout);
    expect(events.find((event) => event.type === 'run-end')?.error, output).toMatch(
      /lost the state database postgres:\/\/sendense@127\.0\.0\.1:\d+\/fence_\w+: no heartbeat written for \d+ s/,
    );
    expect(
      events.find((event) => event.type === 'warning' && /could not record the end of run/.test(String(event.message))),
    ).toBeDefined();
    expect(end.stderr).not.toMatch(/\n\s+at |internal error/);
    // It stopped the copy, not waited for it to end.
    const progress = events.filter((event) => event.type === 'progress');
    expect(progress.at(-1)!.bytesDone!).toBeLessThan(progress.at(-1)!.bytesToDo!);
    for (const pid of qemuNbd) expect(await waitForProcessGone(pid), `qemu-nbd ${pid} still running`).toBe(true);
    expect(repositoryFiles()).toEqual([]);

    // The database is back: doctor on this hub finishes what the run could not record.
    const doctor = await sendenseRun(['doctor', '--db', db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/run \S+ of plan fence-nightly .*: mark it failed: done/);
    const again = await sendenseRun(['doctor', '--dry-run', '--db', db]);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect((await listBackups(db, 'vmf')).filter((backup) => backup.status === 'complete')).toEqual([]);

    // The next run of the same plan reads the same bytes from an unthrottled server at the same
    // place. (nbdkit 1.32's rate filter may abort when a client drops mid-request, as the stopped
    // copy did: "connections.c:402: raw_send_socket: Assertion `sock >= 0' failed", leaving its
    // socket behind: then the next run could not connect.)
    await server.stop();
    rmSync(path.join(ws.dir, 'kit.sock'), { force: true });
    const unthrottled = await startNbdkit(['data', 'data=(0x5a)*67108864', 'size=64M'], path.join(ws.dir, 'kit.sock'));
    servers.push(unthrottled);
    const next = await sendenseRun([plan, '--db', db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    const [backup] = (await listBackups(db, 'vmf')).filter((row) => row.status === 'complete');
    const expected = path.join(ws.dir, 'expected.raw');
    writeFileSync(expected, Buffer.alloc(64 * MiB, 0x5a));
    expect(differenceBetween(backup!.disks[0]!.file, expected, 'raw')).toBe('');
  }, 120_000);
});
