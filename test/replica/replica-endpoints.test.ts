// During a sync, no endpoint of the replica's writable qemu-nbd is open to another local user
// (docs/replication.md#the-data-path): with the sync's node transfer held still, user nobody tries
// every NBD endpoint there is (each listening port of the plan's range, every socket of the hub's
// relay directories and of the sync's directory in replica.scratch) and cannot write; the sync
// succeeds and the replica equals the source. Once with the replica on this host, once over SSH.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { imagesEqual } from '../support/images.js';
import { asNobody } from '../support/other-user-cli.js';
import { commandLine, descendantPids } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { startSendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-endpoints-');
const EXPORT = 'qvm-disk-2000';
let sshd: TestSshd;
// replica.scratch as /var/tmp is: a directory every user may enter and write.
let scratch: string;
// The run's own $TMPDIR, as open as /tmp (1777), so that the relay directories found there are this
// sync's and not those of another test's sync running at the same time.
let runTmp: string;

beforeAll(async () => {
  sshd = await startSshd();
  scratch = mkdtempSync(path.join(tmpdir(), 'replica-endpoints-scratch-'));
  chmodSync(scratch, 0o1777);
  runTmp = mkdtempSync(path.join(tmpdir(), 'replica-endpoints-tmp-'));
  chmodSync(runTmp, 0o1777);
}, 60_000);
afterAll(async () => {
  await sshd?.stop();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  if (runTmp !== undefined) rmSync(runTmp, { recursive: true, force: true });
});

// A TCP port on 127.0.0.1 that accepts a connection now.
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ host: '127.0.0.1', port });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

// Every NBD endpoint that may reach the replica's qemu-nbd now, as URLs.
async function endpoints(): Promise<string[]> {
  const urls: string[] = [];
  for (let port = ports[0]; port <= ports[1]; port++)
    if (await listening(port)) urls.push(`nbd://127.0.0.1:${port}/${EXPORT}`);
  const socketDirs = [
    ...readdirSync(runTmp)
      .filter((name) => name.startsWith('sendense-relay-'))
      .map((name) => path.join(runTmp, name)),
    ...readdirSync(scratch).map((name) => path.join(scratch, name)),
  ];
  for (const dir of socketDirs) {
    for (const entry of readdirSync(dir, { withFileTypes: true }))
      if (entry.isSocket()) urls.push(`nbd+unix:///${EXPORT}?socket=${path.join(dir, entry.name)}`);
  }
  return urls;
}

// 1 MiB written through `url` as user nobody; true when qemu-io says it wrote.
function nobodyWrites(url: string): boolean {
  const result = spawnSync('setpriv', asNobody(['qemu-io', '-f', 'raw', '-c', 'write -P 0xee 4M 1M', url]), {
    encoding: 'utf8',
  });
  return result.status === 0 && /wrote 1048576/.test(result.stdout);
}

// Whether `url` answers NBD for us (a read: nothing of the sync's layer changes).
function answers(url: string): boolean {
  return spawnSync('qemu-io', ['-r', '-f', 'raw', '-c', 'read 0 4k', url], { encoding: 'utf8' }).status === 0;
}

describe.each([
  ['on this host', false],
  ['over SSH', true],
])('a sync with the replica %s', (_where, overSsh) => {
  it('user nobody cannot write into the replica during the sync, and the replica equals the source', async () => {
    const source = path.join(ws.dir, 'source.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', source, '32M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x5a 0 16M', source], { stdio: 'ignore' });
    const replicaDir = path.join(ws.dir, 'replica');
    mkdirSync(replicaDir);
    const plan = path.join(ws.dir, 'replicate.yaml');
    const node = {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHosts: sshd.knownHosts,
    };
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'replicate',
        name: 'qvm-replica',
        vm: { name: 'qvm', source: { type: 'qemu', disks: [{ key: 2000, path: source, format: 'qcow2' }] } },
        replica: { ...(overSsh ? { node } : {}), path: path.join(replicaDir, 'qvm-{key}.qcow2'), points: 2, scratch },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );
    const cli = startSendenseRun([plan, '--db', ws.db], { TMPDIR: runTmp });
    const stopped: number[] = [];
    try {
      await cli.waitForEvent((event) => event.type === 'step-done' && event.step === 'start-replica-nbd');
      // The node transfer held still: the replica's qemu-nbd and whatever reaches it stay up, unwritten.
      for (const pid of descendantPids(cli.pid).filter((pid) =>
        commandLine(pid).some((arg) => arg.includes('sendense-transfer')),
      )) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
      expect(stopped.length).toBeGreaterThan(0);
      const urls = await endpoints();
      // The window is real: the sync's endpoint answers us.
      expect(urls.filter(answers), urls.join('\n')).not.toEqual([]);
      expect(urls.filter(nobodyWrites)).toEqual([]);
    } finally {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
    }
    const done = await cli.exited;
    expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(imagesEqual(source, path.join(replicaDir, 'qvm-2000.qcow2'))).toBe(true);
    // The sync's directories are gone with it.
    expect(readdirSync(scratch)).toEqual([]);
    expect(
      readdirSync(runTmp).filter(
        (name) => name.startsWith('sendense-relay-') && existsSync(path.join(runTmp, name, 'disk-2000.sock')),
      ),
    ).toEqual([]);
  }, 180_000);
});
