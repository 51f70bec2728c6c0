// The node transfer's proof of a shrink and grow (runners/transfer/unseen-zeroes.ts,
// docs/how-it-works.md#change-tracking-by-source), on real qemu-nbd exports: a source with its
// bitmap, and a target overlay whose backing file is the parent point. Found where the disk now
// reads zeroes the bitmap never saw; never for zeroes the guest wrote or discarded, nor for the
// zeroes inside a cluster the parent holds as data (a finer-grained source).

import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, NbdConnection } from '../../src/nbd/index.js';
import { startQemuNbd, type QemuNbd } from '../../src/qemu/qemu-nbd.js';
import { unseenZeroes } from '../../runners/transfer/unseen-zeroes.js';
import { qemuImg, qemuIo } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const ws = useRunWorkspace('unseen-zeroes-');
const opened: { server: QemuNbd; connection: NbdConnection }[] = [];
afterEach(async () => {
  for (const { server, connection } of opened.splice(0)) {
    await connection.close();
    await server.stop();
  }
});

// A source image (clusterSize) written with `before`, bitmap b1 added, then `after` (what the
// bitmap records); the parent point: a copy made when b1 was added, in 64 KiB clusters.
function images(
  name: string,
  { clusterSize = 65536, before, parent = before }: { clusterSize?: number; before: string[]; parent?: string[] },
): { source: string; target: string } {
  const source = join(ws.dir, `${name}-source.qcow2`);
  const base = join(ws.dir, `${name}-parent.qcow2`);
  const target = join(ws.dir, `${name}-target.qcow2`);
  qemuImg('create', '-q', '-f', 'qcow2', '-o', `cluster_size=${clusterSize}`, source, String(SIZE));
  qemuIo(source, ...before);
  qemuImg('bitmap', '--add', source, 'b1');
  qemuImg('create', '-q', '-f', 'qcow2', base, String(SIZE));
  qemuIo(base, ...parent);
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', target);
  return { source, target };
}

async function serve(file: string, role: 'source' | 'target'): Promise<NbdConnection> {
  const socket = join(ws.dir, `${role}.sock`);
  const server = await startQemuNbd({
    file,
    format: 'qcow2',
    socket,
    exportName: 'disk',
    shared: 1,
    readOnly: role === 'source',
    ...(role === 'source' && { bitmap: 'b1' }),
  });
  const metaContexts = role === 'source' ? [BASE_ALLOCATION, `${DIRTY_BITMAP_PREFIX}b1`] : [BASE_ALLOCATION];
  const connection = await NbdConnection.connect(
    { kind: 'unix', socketPath: socket, exportName: 'disk' },
    { metaContexts },
  );
  opened.push({ server, connection });
  return connection;
}

async function check(source: string, target: string) {
  return unseenZeroes(await serve(source, 'source'), await serve(target, 'target'), 'b1');
}

it('shrunk 16M -> 4M and grown back: found where the old data was', async () => {
  const { source, target } = images('shrunk', { before: ['write -P 0x11 0 1M', 'write -P 0x22 8M 8M'] });
  qemuImg('resize', '-q', '--shrink', source, String(4 * MiB));
  qemuImg('resize', '-q', source, String(SIZE));
  expect(await check(source, target)).toEqual({ offset: 8 * MiB, length: 8 * MiB, flags: 0 });
});

it('zeroes the guest wrote or discarded are in the bitmap: nothing found', async () => {
  const { source, target } = images('written', { before: ['write -P 0x11 0 1M', 'write -P 0x22 8M 8M'] });
  qemuIo(source, 'write -z 8M 2M', 'discard 12M 4M', 'write -z -u 10M 1M');
  expect(await check(source, target)).toBeUndefined();
});

it('a source in 4 KiB clusters reads zero beside its data in a cluster the parent holds as data: nothing found', async () => {
  // The parent's cluster at 0 holds the source's 4 KiB of data and the zeroes around it, written whole.
  const { source, target } = images('fine', {
    clusterSize: 4096,
    before: ['write -P 0x11 4k 4k', 'write -P 0x12 1M 60k'],
    parent: ['write -P 0 0 64k', 'write -P 0x11 4k 4k', 'write -P 0 1M 64k', 'write -P 0x12 1M 60k'],
  });
  expect(await check(source, target)).toBeUndefined();
});
