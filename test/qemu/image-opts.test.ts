// qemu-nbd opens a qcow2 with --image-opts that give the image and each qcow2 file below it a
// small L2 cache (the hub's memory budget holds whatever the disks' size): the chain is still read
// exactly as qemu-img reads it — relative backing names, a comma in the path, a raw file below.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { qcow2BackingDepth, qemuNbdImageArgs } from '../../src/qemu/image-opts.js';
import { startQemuNbd, type QemuNbd } from '../../src/qemu/index.js';

let dir: string;
let servers: QemuNbd[] = [];

beforeEach(() => {
  // A comma in the directory: QEMU's option syntax needs it doubled.
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'sendense-image-opts-')), 'vm,disks');
  mkdirSync(dir);
});

afterEach(async () => {
  for (const server of servers) await server.stop();
  servers = [];
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
const qemuIo = (file: string, format: string, command: string) =>
  execFileSync('qemu-io', ['-f', format, '-c', command, file], { cwd: dir, stdio: 'ignore' });

// Serves `file` read-only the way the hub does, and compares what qemu-nbd serves with the chain as qemu-img reads it.
async function servedEqualsChain(file: string): Promise<void> {
  const socket = path.join(dir, `${path.basename(file)}.sock`);
  const server = await startQemuNbd({ file, format: 'qcow2', socket, exportName: 'x', shared: 1, readOnly: true });
  servers.push(server);
  const served = `json:${JSON.stringify({ driver: 'raw', file: { driver: 'nbd', server: { type: 'unix', path: socket }, export: 'x' } })}`;
  expect(() =>
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', served, file], { stdio: 'pipe' }),
  ).not.toThrow();
}

it('a chain of three qcow2 files named by relative paths: every level bounded, served as qemu-img reads it', async () => {
  qemuImg('create', '-q', '-f', 'qcow2', 'base.qcow2', '64M');
  qemuIo(path.join(dir, 'base.qcow2'), 'qcow2', 'write -P 0x11 0 8M');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2');
  qemuIo(path.join(dir, 'mid.qcow2'), 'qcow2', 'write -P 0x22 4M 8M');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
  qemuIo(path.join(dir, 'top.qcow2'), 'qcow2', 'write -P 0x33 40M 1M');
  const top = path.join(dir, 'top.qcow2');

  expect(qcow2BackingDepth(top)).toBe(2);
  expect(qcow2BackingDepth(path.join(dir, 'base.qcow2'))).toBe(0);
  const [flag, options] = qemuNbdImageArgs(top, 'qcow2').args;
  expect(flag).toBe('--image-opts');
  expect(options).toContain(`file.filename=${top.replace(',', ',,')}`);
  expect(options).toContain('backing.backing.l2-cache-size=1048576');
  await servedEqualsChain(top);
});

it('a qcow2 over a raw file: only the qcow2 bounded (an option for the raw level would make qemu-nbd refuse)', async () => {
  qemuImg('create', '-q', '-f', 'raw', 'base.raw', '32M');
  qemuIo(path.join(dir, 'base.raw'), 'raw', 'write -P 0x44 0 4M');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'over-raw.qcow2');
  qemuIo(path.join(dir, 'over-raw.qcow2'), 'qcow2', 'write -P 0x55 2M 1M');
  const top = path.join(dir, 'over-raw.qcow2');
  expect(qcow2BackingDepth(top)).toBe(0);
  await servedEqualsChain(top);
});

it('a backing file that is gone: nothing counted below it, and qemu-nbd says what is missing', async () => {
  qemuImg('create', '-q', '-f', 'qcow2', 'base.qcow2', '16M');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'orphan.qcow2');
  rmSync(path.join(dir, 'base.qcow2'));
  const orphan = path.join(dir, 'orphan.qcow2');
  expect(qcow2BackingDepth(orphan)).toBe(0);
  await expect(
    startQemuNbd({
      file: orphan,
      format: 'qcow2',
      socket: path.join(dir, 'o.sock'),
      exportName: 'x',
      shared: 1,
      readOnly: true,
    }),
  ).rejects.toThrow(/base\.qcow2/);
});
