// Another user of the node during a backup through it (docs/how-it-works.md#the-data-path): the
// moment the node transfer starts, a stand-in `node` on the node's PATH has user nobody try every
// way in to the hub's qemu-nbd, the tunnel's sockets and the leased ports on the node's 127.0.0.1,
// then runs the real transfer. None lets nobody in; the backup is exact.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { createDisk, differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { writeSshBackupPlan } from './ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile(8);
let dir: string;
let sshd: TestSshd | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ssh-intruder-'));
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'intruder.log');
  const nobody = 'setpriv --reuid=65534 --regid=65534 --clear-groups';
  // Only when it is the node transfer (not `node --version`): every tunnel socket, every port of the range.
  const script = [
    '#!/bin/sh',
    'case "$*" in *sendense-transfer*)',
    `  for s in ${tmpdir()}/sendense-tunnel-*/*.sock; do [ -S "$s" ] || continue`,
    `    if ${nobody} nbdinfo --list "nbd+unix:///?socket=$s" >/dev/null 2>&1; then echo "opened $s" >> ${log}; else echo "refused $s" >> ${log}; fi`,
    '  done',
    `  p=${ports[0]}; while [ "$p" -le ${ports[1]} ]; do`,
    `    if ${nobody} nbdinfo --list "nbd://127.0.0.1:$p" >/dev/null 2>&1; then echo "opened 127.0.0.1:$p" >> ${log}; fi`,
    '    p=$((p+1)); done;;',
    'esac',
    `exec ${process.execPath} "$@"`,
  ].join('\n');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'node'), `${script}\n`, { mode: 0o755 });
  sshd = await startSshd({ pathFirst: [bin] });
}, 30_000);

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('nobody on the node can open no endpoint of the backup: not the tunnel sockets, not a loopback port', async () => {
  const disk = createDisk(path.join(dir, 'disk0.qcow2'), 64 * MiB);
  writeDisk(disk, ['write -P 0x31 0 8M', 'write -P 0x32 40M 1M']);
  const node = {
    host: sshd!.host,
    port: sshd!.port,
    user: sshd!.user,
    identityFile: sshd!.identityFile,
    knownHosts: sshd!.knownHosts,
  };
  const plan = writeSshBackupPlan(dir, {
    name: 'intruded',
    vm: 'ivm',
    disks: [{ key: 2000, path: disk }],
    repository: path.join(dir, 'repository'),
    ports,
    node,
  });
  const db = path.join(dir, 'state.db');
  const result = await sendenseRun([plan, '--db', db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);

  const attempts = readFileSync(path.join(dir, 'intruder.log'), 'utf8').trim().split('\n');
  expect(attempts.filter((line) => line.startsWith('opened'))).toEqual([]);
  // The stand-in ran while the tunnel was open: it found this run's socket, and was refused.
  expect(
    attempts.some((line) => /^refused .*\/sendense-tunnel-[^/]+\/0-disk-2000\.sock$/.test(line)),
    attempts.join('\n'),
  ).toBe(true);
  const [backup] = await listBackups(db, 'ivm');
  expect(differenceBetween(backup!.disks[0]!.file, disk)).toBe('');
}, 120_000);
