// The NBD client against real servers (qemu-nbd, nbdkit): handshake, refusals, block status
// with both contexts, pipelined I/O, and errors that must fail every pending request.

import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdConnection, parseNbdUrl, walkExtents, mergeExtents, type Extent } from '../../src/nbd/index.js';
import { qemuImg, qemuIo } from '../support/images.js';
import { startNbdkit, startQemuNbd, useNbdServers, type TestNbdServer } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('nbd-client-');
const servers = useNbdServers();
const connections: NbdConnection[] = [];

afterEach(() => {
  for (const connection of connections.splice(0)) connection.destroy();
});

async function serve(options: Parameters<typeof startQemuNbd>[0]): Promise<TestNbdServer> {
  const server = await startQemuNbd(options);
  servers.push(server);
  return server;
}
async function open(url: string, metaContexts: string[] = []): Promise<NbdConnection> {
  const connection = await NbdConnection.connect(parseNbdUrl(url), { metaContexts });
  connections.push(connection);
  return connection;
}
async function collect(iterable: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const extent of iterable) out.push(extent);
  return out;
}

describe('NBD handshake', () => {
  it('negotiates size, flags and block sizes with qemu-nbd over TCP', async () => {
    const file = join(ws.dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '10M');
    const server = await serve({ file, readOnly: true });
    const connection = await open(server.url, ['base:allocation']);
    expect(connection.size).toBe(10 * MiB);
    expect(connection.readOnly).toBe(true);
    expect(connection.canMultiConn).toBe(true);
    expect(connection.info.structuredReplies).toBe(true);
    expect(connection.info.maximumPayload).toBe(32 * MiB);
    expect(connection.hasMetaContext('base:allocation')).toBe(true);
    await connection.close();
  });

  it('reports an export name the server does not have', async () => {
    const file = join(ws.dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '1M');
    const server = await serve({ file, exportName: 'right' });
    await expect(open(server.url.replace('/right', '/wrong'))).rejects.toThrow(/has no export named 'wrong'/);
  });

  it('leaves out a meta context the server does not know, and says so when it is used', async () => {
    const file = join(ws.dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '1M');
    const server = await serve({ file, readOnly: true });
    const connection = await open(server.url, ['base:allocation', 'qemu:dirty-bitmap:nope']);
    expect(connection.hasMetaContext('qemu:dirty-bitmap:nope')).toBe(false);
    await expect(collect(walkExtents(connection, 'qemu:dirty-bitmap:nope', 0, connection.size))).rejects.toThrow(
      /does not offer meta context 'qemu:dirty-bitmap:nope'/,
    );
  });

  it('reports a server that is not listening', async () => {
    await expect(open(`nbd+unix:///x?socket=${join(ws.dir, 'nobody.sock')}`)).rejects.toThrow(
      /cannot connect to NBD server/,
    );
  });
});

describe('NBD block status', () => {
  it('reports base:allocation and a dirty bitmap in one walk, over a Unix socket', async () => {
    const file = join(ws.dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '8M');
    qemuIo(file, 'write -P 0x11 0 1M', 'write -z 2M 1M');
    qemuImg('bitmap', '--add', file, 'b1');
    qemuIo(file, 'write -P 0x22 4M 128k');
    const socket = join(ws.dir, 'nbd.sock');
    const server = await serve({ file, readOnly: true, bitmap: 'b1', socket });
    const connection = await open(server.url, ['base:allocation', 'qemu:dirty-bitmap:b1']);
    const allocation = await collect(mergeExtents(walkExtents(connection, 'base:allocation', 0, connection.size)));
    expect(allocation).toEqual([
      { offset: 0, length: 1 * MiB, flags: 0 },
      // qcow2 zero clusters read as zero and are not allocated: HOLE|ZERO like never-written ones.
      { offset: 1 * MiB, length: 3 * MiB, flags: 3 },
      { offset: 4 * MiB, length: 128 * 1024, flags: 0 },
      { offset: 4 * MiB + 128 * 1024, length: 4 * MiB - 128 * 1024, flags: 3 },
    ]);
    const dirty = (await collect(walkExtents(connection, 'qemu:dirty-bitmap:b1', 0, connection.size))).filter(
      (e) => e.flags & 1,
    );
    expect(dirty).toEqual([{ offset: 4 * MiB, length: 128 * 1024, flags: 1 }]);
  });
});

describe('NBD pipelined I/O', () => {
  it('keeps 64 writes in flight, splits a write above the max payload, reads back the same bytes', async () => {
    const file = join(ws.dir, 'w.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '128M');
    const server = await serve({ file });
    const connection = await open(server.url);
    expect(connection.canWriteZeroes).toBe(true);
    const blocks = Array.from({ length: 64 }, () => randomBytes(256 * 1024));
    const writes = blocks.map((block, index) => connection.write(index * block.length, block));
    expect(connection.inFlight).toBe(64);
    await Promise.all(writes);
    const big = randomBytes(40 * MiB);
    await connection.write(64 * MiB, big);
    await connection.writeZeroes(256 * 1024, 256 * 1024);
    await connection.flush();
    const reads = blocks.map((_, index) => connection.read(index * 256 * 1024, 256 * 1024));
    const results = await Promise.all(reads);
    expect(results[1]!.data.equals(Buffer.alloc(256 * 1024))).toBe(true);
    for (const [index, result] of results.entries()) {
      if (index !== 1) expect(result.data.equals(blocks[index]!)).toBe(true);
    }
    const back = await connection.read(64 * MiB, 40 * MiB);
    expect(sha(back.data)).toBe(sha(big));
    const hole = await connection.read(120 * MiB, 1 * MiB);
    expect(hole.allHoles).toBe(true);
    expect(hole.data.equals(Buffer.alloc(MiB))).toBe(true);
  });
});

describe('NBD errors', () => {
  it('turns a server error mid-stream into a clear error for that request only', async () => {
    const trigger = join(ws.dir, 'fail-now');
    const server = await startNbdkit(
      ['--filter=error', 'memory', '64M', 'error-pread=EIO', 'error-pread-rate=100%', `error-file=${trigger}`],
      join(ws.dir, 'kit.sock'),
    );
    servers.push(server);
    const connection = await open(server.url);
    await connection.write(0, Buffer.alloc(MiB, 7));
    expect((await connection.read(0, MiB)).data[0]).toBe(7);
    writeFileSync(trigger, '');
    await expect(connection.read(0, MiB)).rejects.toThrow(/NBD READ at offset 0 \(1048576 bytes\) failed on .*EIO/);
    rmSync(trigger);
    expect((await connection.read(0, MiB)).data[0]).toBe(7);
  });

  it('fails every pending request when the server is killed', async () => {
    const file = join(ws.dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '512M');
    qemuIo(file, 'write -P 0x33 0 256M');
    const server = await serve({ file, readOnly: true });
    const connection = await open(server.url);
    const reads = Array.from({ length: 32 }, (_, index) => connection.read(index * 8 * MiB, 8 * MiB));
    process.kill(server.pid, 'SIGKILL');
    const outcomes = await Promise.allSettled(reads);
    const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const outcome of rejected)
      expect(String((outcome as PromiseRejectedResult).reason)).toMatch(
        /NBD connection to nbd:\/\/127\.0\.0\.1:\d+\/disk lost/,
      );
    await expect(connection.read(0, 512)).rejects.toThrow(/lost/);
  });
});

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
