// An nbd source with a dirty bitmap on a node reached over SSH, through the CLI: the bitmap
// probe and the transfer run on the node; full then incremental, each point exact.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, writeDisk } from '../support/vm-disks.js';
import { nodeBlock, nodeProcessesMentioning, useSshWorkspace } from '../ssh/ssh-node.js';

const MiB = 1024 * 1024;
const ws = useSshWorkspace('audit-nbd-ssh-');
const servers = useNbdServers();

it('full then incremental of an nbd+unix export with a bitmap, through an SSH node', async () => {
  const { node, dir, db, repository } = ws;
  const image = createDisk(path.join(dir, 'appliance.qcow2'), 64 * MiB);
  writeDisk(image, ['write -P 0x11 0 8M', `write -P 0x12 ${64 * MiB - 512} 512`]);
  execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
  // A Unix socket: the node (maybe in its own network namespace) shares the filesystem.
  const socket = path.join(dir, 'export.sock');
  const serve = async () => {
    const server = await startQemuNbd({ file: image, readOnly: true, bitmap: 'cbt', exportName: 'disk0', socket });
    servers.push(server);
    return server;
  };
  let server = await serve();
  const plan = path.join(dir, 'plan.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'nbd-ssh',
      vm: { name: 'appliance', source: { type: 'nbd', disks: [{ key: 2000, url: server.url, bitmap: 'cbt' }] } },
      node: { ...nodeBlock(node) },
      repository: { path: repository },
      nbd: { ports: '45860-45879' },
    }),
  );
  const full = await sendenseRun([plan, '--db', db]);
  expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);
  const point1 = keepCopy(image, path.join(dir, 'p1.qcow2'));

  await server.stop();
  writeDisk(image, ['write -P 0x21 4M 1M', 'write -z 0 1M', `write -P 0x22 ${64 * MiB - 512} 512`]);
  const point2 = keepCopy(image, path.join(dir, 'p2.qcow2'));
  server = await serve();
  const incremental = await sendenseRun([plan, '--db', db]);
  expect(incremental.exitCode, `${incremental.stdout}\n${incremental.stderr}`).toBe(0);

  const backups = (await listBackups(db)).filter((backup) => backup.status === 'complete');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  expect(backups.map((backup) => backup.disks[0].changeId)).toEqual(['cbt', 'cbt']);
  expect(differenceBetween(backups[0].disks[0].file, point1)).toBe('');
  expect(differenceBetween(backups[1].disks[0].file, point2)).toBe('');
  expect(backups[1].disks[0].bytes).toBeLessThanOrEqual(3 * MiB);
  expect(nodeProcessesMentioning(node, dir).filter((pid) => pid !== server.pid)).toEqual([]);
}, 90_000);
