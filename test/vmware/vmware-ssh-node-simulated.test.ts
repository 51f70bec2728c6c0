// A VMware source read by sendense-run itself through an SSH node (a real sshd on 127.0.0.1),
// against a SIMULATED vSphere (govmomi's vcsim behind the faked-CBT proxy, as in
// vmware-simulated.test.ts): the hub speaks vim25, the node transfer installed on the node reads
// the snapshot's flat files over the datastore's HTTPS file access with the session cookie from
// its environment, the read lists are written over SSH. A full and an incremental are exact, and
// the session cookie and the password are on no command line of the node. A dry run shows the VM
// (vSphere is asked from the hub, the node is not contacted).

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { identify, killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../support/vsphere-cbt-proxy.js';
import { differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { processesMentioning } from '../ssh/ssh-node.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim ssh-node pa55!';
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD };
const SIZES = new Map([
  [2000, 16 * MiB],
  [2001, 8 * MiB],
]);
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('vmware-ssh-node-simulated-', { per: 'file' });

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;
let sshd: TestSshd;

const flat = (key: number) => vcsim.disks.find((disk) => disk.key === key)!.flat;

buildVcsimFirst();

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-ssh-node-simulated-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: SIZES });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  sshd = await startSshd();
}, 300_000);

afterAll(async () => {
  for (const pid of processesMentioning(ws.dir)) killIfAlive(identify(pid));
  await sshd?.stop();
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

// The command lines of every process now running (the node's are this host's).
function commandLines(): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.push(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // Gone meanwhile.
    }
  }
  return lines;
}

describe('VMware source through an SSH node (vmware-simulated: vcsim + a faked CBT, a real sshd)', () => {
  it('simulated vSphere, an SSH node: the node transfer reads the snapshot over HTTPS; a full and an incremental are exact; no secret on a command line, nothing left', async () => {
    const plan = path.join(ws.dir, 'vmw.yaml');
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'incremental',
        name: 'vmw-ssh-node-simulated',
        node: {
          host: sshd.host,
          port: sshd.port,
          user: sshd.user,
          identityFile: sshd.identityFile,
          knownHosts: sshd.knownHosts,
        },
        vm: {
          name: 'vmw',
          source: {
            type: 'vmware',
            endpoint: proxy.endpoint,
            username: USER,
            passwordEnv: 'TEST_VCENTER_PASSWORD',
            path: vcsim.vmPath,
            certificateSha256: sha256,
            disks: [{ key: 2000 }, { key: 2001 }],
          },
        },
        repository: { path: path.join(ws.dir, 'repository') },
        nbd: { ports: `${first}-${last}` },
      }),
    );
    writeDisk(flat(2000), ['write -P 0x41 0 4M', 'write -P 0x42 15M 1M'], 'raw');
    writeDisk(flat(2001), ['write -P 0x43 2M 1M'], 'raw');
    // Every command line seen while the runs go on: the cookie and the password are on none.
    const seen = new Set<string>();
    const watch = setInterval(() => {
      for (const line of commandLines()) seen.add(line);
    }, 50);
    try {
      for (const [round, type] of [
        [1, 'full'],
        [2, 'incremental'],
      ] as const) {
        if (round === 2) writeDisk(flat(2000), ['write -P 0x44 6M 2M', 'write -z 15M 64k'], 'raw');
        // A dry run asks vSphere from the hub, a remote node or not: the VM, its disks, CBT, full or incremental.
        const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run'], ENV);
        expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0);
        expect(dry.stdout).toMatch(
          /VM vmw \(vm-\d+\) at 127\.0\.0\.1:\d+: poweredOn, CBT on; disks 2000 = \[LocalDS_0\] vmw\/vmw_0\.vmdk \(16\.0 MiB\), 2001 = \[LocalDS_0\] vmw\/vmw_1\.vmdk \(8\.0 MiB\)/,
        );
        expect(dry.stdout).toContain(type === 'full' ? 'full backup into a new chain' : 'incremental on backup ');
        const result = await sendenseRun([plan, '--db', ws.db], ENV);
        expect(result.exitCode, result.stdout + result.stderr).toBe(0);
        expect(result.stdout).toMatch(/\[transfer\] copy .* from \S+@127\.0\.0\.1/);
        const point = (await listBackups(ws.db, 'vmw')).at(-1)!;
        expect(point.type).toBe(type);
        for (const disk of point.disks) {
          const copy = keepCopy(flat(disk.diskKey), path.join(ws.dir, `disk-${disk.diskKey}.${round}.raw`));
          expect(differenceBetween(disk.file, copy, 'raw'), `round ${round}, disk ${disk.diskKey}`).toBe('');
        }
      }
    } finally {
      clearInterval(watch);
    }
    const lines = [...seen];
    expect(lines.filter((line) => line.includes(PASSWORD) || line.includes('vmware_soap_session'))).toEqual([]);
    expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  }, 180_000);
});
