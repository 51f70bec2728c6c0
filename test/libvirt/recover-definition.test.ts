// Recovering a point that carries no domain XML (a qemu source) from the plan's minimal definition
// (docs/instant-recovery.md): the domain is defined and started on overlays over the served
// point, moved to its storage files, and each holds exactly the point; failures before the start
// leave no domain, overlay or storage file behind. Real libvirt; the disks hold no OS (the
// firmware finds nothing to boot and writes nothing), so the copy must equal the point bit for bit.

import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureLibvirtd, GUEST_DIR_PREFIX, virshResult } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { startSshd } from '../support/sshd.js';
import { useTerminals } from '../support/terminal.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { domainImages, exists, processesHolding, removeDomain, repositoryDigests } from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-recover-def-', { per: 'file' });
const DOMAIN = 'sendense-test-recover-def';
const terminals = useTerminals();
let dir: string;
let pointFiles: Record<number, string>;

beforeAll(async () => {
  ensureLibvirtd();
  removeDomain(DOMAIN);
  // QEMU's user must reach the storage files: a world-searchable directory under /var/tmp.
  dir = mkdtempSync(GUEST_DIR_PREFIX);
  chmodSync(dir, 0o755);
  const disks = [2000, 2001].map((key) => ({
    key,
    path: createDisk(path.join(ws.dir, `src-${key}.qcow2`), 32 * 1024 * 1024),
  }));
  writeDisk(disks[0]!.path, ['write -P 0x11 0 4M', 'write -P 0x12 20M 2M']);
  writeDisk(disks[1]!.path, ['write -P 0x21 1M 3M']);
  const plan = writePlan(ws.dir, { name: 'def-src', vm: 'dvm', disks, repository: ws.repository, ports });
  expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);
  writeDisk(disks[0]!.path, ['write -P 0x13 8M 1M']);
  expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);
  const latest = (await listBackups(ws.db, 'dvm')).at(-1)!;
  pointFiles = Object.fromEntries(latest.disks.map((disk) => [disk.diskKey, disk.file]));
}, 120_000);
afterEach(() => removeDomain(DOMAIN));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recoverPlan(name: string, recover: Record<string, unknown>, node?: Record<string, unknown>): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  const doc = {
    version: 1,
    kind: 'recover',
    name,
    vm: { name: 'dvm' },
    repository: { path: ws.repository },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
    ...(node ? { node } : {}),
    recover,
  };
  writeFileSync(file, stringify(doc));
  return file;
}

const to = (storage: string, extra: Record<string, unknown> = {}) => ({
  type: 'libvirt',
  domain: DOMAIN,
  storage: path.join(dir, storage),
  scratch: dir,
  definition: { memory: '128MiB', vcpus: 1, virtualization: 'qemu' },
  ...extra,
});

describe('recover from a minimal definition', () => {
  it('defines, starts and moves a domain whose disks then equal the point exactly', async () => {
    const digests = repositoryDigests(ws.repository);
    const result = await sendenseRun([
      recoverPlan('def-live', { to: to('live-{key}.qcow2'), moveStorage: true }),
      '--db',
      ws.db,
    ]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/running [\d.]+ s after the command/);
    expect(virshResult('domstate', DOMAIN).stdout.trim()).toBe('running');
    expect(domainImages(DOMAIN)).toEqual({
      vda: path.join(dir, 'live-2000.qcow2'),
      vdb: path.join(dir, 'live-2001.qcow2'),
    });
    expect(processesHolding(ws.repository)).toEqual([]);
    expect(readdirSync(dir).filter((name) => name.startsWith('sendense-run-'))).toEqual([]);
    virshResult('destroy', DOMAIN);
    expect(imagesEqual(path.join(dir, 'live-2000.qcow2'), pointFiles[2000]!)).toBe(true);
    expect(imagesEqual(path.join(dir, 'live-2001.qcow2'), pointFiles[2001]!)).toBe(true);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
  }, 120_000);

  it('recovers on a node over SSH: the overlays read the point through the tunnel', async () => {
    // sshd on 127.0.0.1 beside libvirtd, as on a real node (QEMU reaches the tunnel's socket there).
    const sshd = await startSshd();
    try {
      const node = {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        knownHosts: sshd.knownHosts,
      };
      const result = await sendenseRun([
        recoverPlan('def-ssh', { to: to('ssh-{key}.qcow2'), moveStorage: true }, node),
        '--db',
        ws.db,
      ]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(
        /\[open-tunnel\] node \/\S+\/sendense-tunnel-\w+\/0-disk-2000\.sock -> hub \/\S+\/sendense-serve-[^/]+\/disk-2000\.sock/,
      );
      expect(domainImages(DOMAIN)).toEqual({
        vda: path.join(dir, 'ssh-2000.qcow2'),
        vdb: path.join(dir, 'ssh-2001.qcow2'),
      });
      virshResult('destroy', DOMAIN);
      expect(imagesEqual(path.join(dir, 'ssh-2000.qcow2'), pointFiles[2000]!)).toBe(true);
      expect(imagesEqual(path.join(dir, 'ssh-2001.qcow2'), pointFiles[2001]!)).toBe(true);
    } finally {
      await sshd.stop();
    }
  }, 120_000);

  it('Ctrl+C in a terminal during the move: the move goes on to the switch-over, exit 130, the domain runs on', async () => {
    const plan = recoverPlan('def-tty', { to: to('tty-{key}.qcow2'), moveStorage: true });
    // Slow enough to press Ctrl+C mid-copy (the copy goes through every byte of the 32 MiB disks).
    writeFileSync(plan, readFileSync(plan, 'utf8') + 'rate: 4MiB/s\n');
    const term = terminals.open([plan, '--db', ws.db], { columns: 200 });
    await term.waitFor(/move-storage: copy/, 60_000);
    term.keys('C-c');
    const code = await term.exited(120_000);
    const screen = term.screen();
    expect(code, screen).toBe(130);
    expect(screen).toMatch(/the move goes on/);
    expect(screen).toMatch(/✔ move-storage: copied while running and switched over/);
    expect(virshResult('domstate', DOMAIN).stdout.trim()).toBe('running');
    expect(domainImages(DOMAIN)).toEqual({
      vda: path.join(dir, 'tty-2000.qcow2'),
      vdb: path.join(dir, 'tty-2001.qcow2'),
    });
    expect(processesHolding(ws.repository)).toEqual([]);
  }, 180_000);

  it('start: false copies the disks first and defines the domain on them, not started', async () => {
    const result = await sendenseRun([
      recoverPlan('def-off', { to: to('off-{key}.qcow2'), start: false, moveStorage: true }),
      '--db',
      ws.db,
    ]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(virshResult('domstate', DOMAIN).stdout.trim()).toBe('shut off');
    expect(virshResult('dumpxml', '--inactive', DOMAIN).stdout).toContain(path.join(dir, 'off-2000.qcow2'));
    expect(imagesEqual(path.join(dir, 'off-2000.qcow2'), pointFiles[2000]!)).toBe(true);
    expect(imagesEqual(path.join(dir, 'off-2001.qcow2'), pointFiles[2001]!)).toBe(true);
  }, 120_000);

  it('refuses an existing storage file and an existing domain before taking anything', async () => {
    writeFileSync(path.join(dir, 'taken-2001.qcow2'), 'precious');
    const refused = await sendenseRun([
      recoverPlan('def-taken', { to: to('taken-{key}.qcow2'), moveStorage: true }),
      '--db',
      ws.db,
    ]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('taken-2001.qcow2 (disk 2001) already exists');
    expect(virshResult('domstate', DOMAIN).status).not.toBe(0);
    expect(exists(path.join(dir, 'taken-2000.qcow2'))).toBe(false);

    expect(
      (
        await sendenseRun([
          recoverPlan('def-first', { to: to('first-{key}.qcow2'), start: false, moveStorage: true }),
          '--db',
          ws.db,
        ])
      ).exitCode,
    ).toBe(0);
    const again = await sendenseRun([
      recoverPlan('def-again', { to: to('again-{key}.qcow2'), moveStorage: true }),
      '--db',
      ws.db,
    ]);
    expect(again.exitCode).toBe(1);
    expect(again.stdout + again.stderr).toContain(`domain ${DOMAIN} already exists`);
    expect(virshResult('domstate', DOMAIN).stdout.trim()).toBe('shut off');
  }, 120_000);

  it('a domain that cannot start is undefined again, its overlays removed, nothing left serving', async () => {
    // More memory than any host has: libvirt defines the domain, QEMU cannot start it.
    const result = await sendenseRun([
      recoverPlan('def-nostart', {
        to: to('nostart-{key}.qcow2', { definition: { memory: '64TiB', vcpus: 1, virtualization: 'qemu' } }),
        moveStorage: true,
      }),
      '--db',
      ws.db,
    ]);
    expect(result.exitCode, result.stdout).toBe(1);
    expect(result.stdout + result.stderr).toContain(`start domain ${DOMAIN}`);
    expect(virshResult('domstate', DOMAIN).status).not.toBe(0);
    expect(readdirSync(dir).filter((name) => name.startsWith('sendense-run-') || name.startsWith('nostart-'))).toEqual(
      [],
    );
    expect(processesHolding(ws.repository)).toEqual([]);
  }, 120_000);
});
