// DIR/.sendense-view sends QEMU's reads of a bucket view's newest layer to the view's NBD socket
// (docs/copies.md#reading-straight-from-a-bucket). Whoever can write DIR could plant one pointing at
// a socket of theirs: it is followed only when this user made it for a live process and a socket
// of this user's in a closed folder. The real view: test/copy/s3-lazy-view.test.ts.

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VIEW_EXPORT_FILE, viewExportOf, writeViewExports } from '../../src/repository/view-export.js';

const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const NAME = 'vm/disk-2000/20261127-000000-abcd.qcow2';

// A view's DIR and a listening socket in a 0700 folder, as the view makes them.
async function view() {
  const root = mkdtempSync(path.join(tmpdir(), 'sendense-view-export-'));
  dirs.push(root);
  const dir = path.join(root, 'view');
  mkdirSync(path.join(dir, 'vm', 'disk-2000'), { recursive: true });
  const socketDir = path.join(root, 'sockets');
  mkdirSync(socketDir, { mode: 0o700 });
  const socket = path.join(socketDir, 'nbd.sock');
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return { dir, socket, socketDir, file: path.join(dir, NAME), descriptor: path.join(dir, VIEW_EXPORT_FILE) };
}

describe('a view export (.sendense-view)', () => {
  it("one this process wrote names the socket and the file's export", async () => {
    const { dir, socket, file } = await view();
    await writeViewExports(dir, socket, [NAME]);
    expect(viewExportOf(file)).toEqual({ socket, name: NAME });
    expect(viewExportOf(path.join(dir, 'vm', 'disk-2000', 'other.qcow2'))).toBeUndefined();
  });

  it('one readable by others, a symlink, a dead process, or a socket in an open folder is not followed', async () => {
    const { dir, socket, socketDir, file, descriptor } = await view();
    await writeViewExports(dir, socket, [NAME]);
    const text = JSON.parse(readFileSync(descriptor, 'utf8'));

    chmodSync(descriptor, 0o644);
    expect(viewExportOf(file)).toBeUndefined();
    chmodSync(descriptor, 0o600);
    expect(viewExportOf(file)).toBeDefined();

    const elsewhere = path.join(path.dirname(dir), 'planted.json');
    writeFileSync(elsewhere, JSON.stringify(text), { mode: 0o600 });
    rmSync(descriptor);
    symlinkSync(elsewhere, descriptor);
    expect(viewExportOf(file)).toBeUndefined();
    rmSync(descriptor);

    writeFileSync(descriptor, JSON.stringify({ ...text, pid: 2 ** 22 + 12345, startTicks: 1 }), { mode: 0o600 });
    expect(viewExportOf(file)).toBeUndefined();
    rmSync(descriptor);

    writeFileSync(descriptor, JSON.stringify(text), { mode: 0o600 });
    chmodSync(socketDir, 0o755);
    expect(viewExportOf(file)).toBeUndefined();
    chmodSync(socketDir, 0o700);
    expect(viewExportOf(file)).toEqual({ socket, name: NAME });
  });
});
