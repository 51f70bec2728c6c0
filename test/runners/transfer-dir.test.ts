// A node transfer killed outright: its qemu-nbd end with it, even one that no connection has
// reached yet (runners/README.md); its private directory in $TMPDIR
// (runners/transfer/transfer-dir.ts) is left, and the next transfer on the host removes it once it
// is a minute old; a directory whose socket still answers stays, a live transfer's own included,
// whatever its age.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openTransferDir, TRANSFER_DIR_PREFIX } from '../../runners/transfer/transfer-dir.js';
import { imagesEqual, qemuImg, qemuIo } from '../support/images.js';
import { descendantPids, processesUnder, qemuNbdAmong } from '../support/process-tree.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTransferBundle } from '../support/transfer-bundle.js';

const MiB = 1024 * 1024;
const bundle = useTransferBundle();
const ws = useRunWorkspace('transfer-dir-');
const noted = new NotedProcesses();
afterEach(() => noted.killAll());

// Older than the minute after which a directory counts as stale (src/qemu/socket-dir.ts).
const aged = (dir: string) => {
  const old = new Date(Date.now() - 120_000);
  utimesSync(dir, old, old);
};

function images(name: string, data: string): { source: string; target: string } {
  const source = join(ws.dir, `${name}-src.qcow2`);
  qemuImg('create', '-q', '-f', 'qcow2', source, '64M');
  qemuIo(source, `write -P 0x5a 0 ${data}`);
  const target = join(ws.dir, `${name}-target.qcow2`);
  qemuImg('create', '-q', '-f', 'qcow2', target, '64M');
  return { source, target };
}

// The bundled transfer of one disk into a file it serves itself, with TMPDIR `tmp`; resolves on its first line.
function startTransfer(tmp: string, { source, target }: { source: string; target: string }, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [bundle.runner, '--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${source}`, ...extra],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmp },
    },
  );
  noted.add(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const firstLine = new Promise<void>((resolve) =>
    child.stdout.on('data', () => stdout.includes('"type":"start"') && resolve()),
  );
  return { child, exited, firstLine, output: () => `${stdout}\n${stderr}` };
}

describe('a node transfer killed outright', () => {
  it('takes its qemu-nbd with it, even one started a moment ago that no connection has reached yet', async () => {
    const tmp = join(ws.dir, 'tmp');
    mkdirSync(tmp, { mode: 0o700 });
    const early = startTransfer(tmp, images('early', '8M'));
    // Both caught the moment they are qemu-nbd (setpriv has taken hold): the source's start-up
    // (~10 ms, after the target's) is still ahead, the transfer's first connection to it after that.
    let servers: number[] = [];
    while (servers.length < 2 && early.child.exitCode === null) {
      servers = qemuNbdAmong(descendantPids(early.child.pid!));
      if (servers.length < 2) await new Promise((resolve) => setImmediate(resolve));
    }
    early.child.kill('SIGKILL');
    for (const pid of servers) noted.add(pid);
    await early.exited;
    expect(servers, early.output()).toHaveLength(2);
    for (const pid of servers)
      expect(await waitForProcessGone(pid, 10_000), `qemu-nbd ${pid} outlived the transfer`).toBe(true);
    // Anything else left on the test's files is stopped after the test too.
    const left = processesUnder(ws.dir);
    for (const { pid } of left) noted.add(pid);
    expect(left).toEqual([]);
  });

  it('leaves its directory; the next transfer removes it once a minute old, keeps one whose socket answers, and is exact', async () => {
    const tmp = join(ws.dir, 'tmp');
    mkdirSync(tmp, { mode: 0o700 });
    // Slow enough to be killed mid-copy: 32 MiB at 2 MiB/s.
    const killed = startTransfer(tmp, images('killed', '32M'), ['--rate', String(2 * MiB)]);
    await Promise.race([killed.firstLine, killed.exited]);
    const servers = qemuNbdAmong(descendantPids(killed.child.pid!));
    for (const pid of servers) noted.add(pid);
    expect(servers, killed.output()).toHaveLength(2);
    const [left] = readdirSync(tmp);
    killed.child.kill('SIGKILL');
    await killed.exited;
    // Its qemu-nbd die with it; their sockets and its own stay, answered by nobody.
    for (const pid of servers) expect(await waitForProcessGone(pid)).toBe(true);
    expect(left).toMatch(new RegExp(`^${TRANSFER_DIR_PREFIX}`));
    // (A qemu-nbd that saw its client go before the kernel's signal reached it removed its own.)
    const entries = readdirSync(join(tmp, left!));
    expect(entries).toContain('transfer.sock');
    expect(
      entries.every((entry) =>
        ['qemu-nbd-2000-source.sock', 'qemu-nbd-2000-target.sock', 'transfer.sock'].includes(entry),
      ),
      entries.join(', '),
    ).toBe(true);
    aged(join(tmp, left!));

    const listened = mkdtempSync(join(tmp, TRANSFER_DIR_PREFIX));
    const listener = createServer().listen(join(listened, 'transfer.sock'));
    await once(listener, 'listening');
    try {
      aged(listened);
      const disk = images('next', '8M');
      const next = startTransfer(tmp, disk);
      expect(await next.exited, next.output()).toBe(0);
      expect(imagesEqual(disk.source, disk.target)).toBe(true);
      expect(readdirSync(tmp)).toEqual([basename(listened)]);
    } finally {
      listener.close();
    }
  });

  it("a live transfer's directory, however old, is kept by another's sweep, even with no qemu-nbd in it; closed, it is gone", async () => {
    const first = await openTransferDir();
    try {
      aged(first.path);
      const second = await openTransferDir();
      await second.close();
      expect(readdirSync(first.path)).toEqual(['transfer.sock']);
      expect(existsSync(second.path)).toBe(false);
    } finally {
      await first.close();
    }
    expect(existsSync(first.path)).toBe(false);
  });
});
