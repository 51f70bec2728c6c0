// Twelve generations of a VMware VM read by sendense-run itself, against a SIMULATED vSphere
// (govmomi's vcsim behind the faked-CBT proxy, as in vmware-simulated.test.ts): fulls,
// incrementals whose change lists span several QueryChangedDiskAreas pages, a CBT reset, a disk
// grown, a change id vSphere rejects at the snapshot. Every point is restored with
// `sendense-run restore` and compared byte for byte with the disks as they were when it was taken.
// The SOAP calls of each incremental are counted per method (docs/vmware.md#figures).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../support/vsphere-cbt-proxy.js';
import { differenceBetween, imageInfo, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { restoreToFiles } from './restore-point.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim generations pa55!';
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD };
const KEYS = [2000, 2001] as const;
const sizes = new Map<number, number>([
  [2000, 24 * MiB],
  [2001, 8 * MiB],
]);
const GROWN = 12 * MiB;
const PAGE = 4 * MiB;
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('vmware-generations-simulated-', { per: 'file' });

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;
let plan = '';

const flat = (key: number) => vcsim.disks.find((disk) => disk.key === key)!.flat;

buildVcsimFirst();

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-generations-simulated-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: sizes });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  // Every answer of QueryChangedDiskAreas covers at most 4 MiB: a 24 MiB disk's list is 6 pages.
  proxy.pageBytes = PAGE;
  plan = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'vmw-generations-simulated',
      vm: {
        name: 'vmw',
        source: {
          type: 'vmware',
          endpoint: proxy.endpoint,
          username: USER,
          passwordEnv: 'TEST_VCENTER_PASSWORD',
          path: vcsim.vmPath,
          certificateSha256: sha256,
          disks: KEYS.map((key) => ({ key })),
        },
      },
      repository: { path: path.join(ws.dir, 'repository') },
      nbd: { ports: `${first}-${last}` },
    }),
  );
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

// Disk 2001 grown in vSphere (ReconfigVM_Task, the device edited) and on the datastore (its flat
// file and its descriptor's extent), as a user growing a disk does.
async function growDisk2001(size: number): Promise<void> {
  const { VimClient } = await import('../../src/vmware/vim-client.js');
  const { findVm } = await import('../../src/vmware/vm-inventory.js');
  const { moRefXml, xmlEscape } = await import('../../src/vmware/soap-xml.js');
  const disk = vcsim.disks.find((each) => each.key === 2001)!;
  const client = VimClient.open(vcsim.endpoint, { sha256, trustLine: () => '' });
  await client.login(USER, PASSWORD);
  try {
    const vm = await findVm(client, vcsim.vmPath);
    await client.runTask(
      'ReconfigVM_Task',
      `${moRefXml('_this', vm.ref)}<spec><deviceChange><operation>edit</operation><device xsi:type="VirtualDisk"><key>2001</key><deviceInfo><label>Hard disk 2</label><summary>grown</summary></deviceInfo>` +
        `<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>${xmlEscape(disk.fileName)}</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing>` +
        `<controllerKey>1000</controllerKey><unitNumber>1</unitNumber><capacityInKB>${size / 1024}</capacityInKB><capacityInBytes>${size}</capacityInBytes></device></deviceChange></spec>`,
    );
    expect((await findVm(client, vcsim.vmPath)).disks.find((each) => each.key === 2001)!.capacity).toBe(size);
  } finally {
    await client.logout();
  }
  execFileSync('truncate', ['-s', String(size), disk.flat]);
  const text = readFileSync(disk.descriptor, 'utf8').replace(/^RW \d+ VMFS/m, `RW ${size / 512} VMFS`);
  writeFileSync(disk.descriptor, text);
  sizes.set(2001, size);
}

interface Generation {
  readonly what: string;
  readonly change: () => Promise<void> | void;
  readonly taken: 'full' | 'incremental';
  /** A warning the run must give (why it is a full). */
  readonly warns?: string;
}

const GENERATIONS: readonly Generation[] = [
  {
    what: 'the first full',
    change: () => {
      writeDisk(
        flat(2000),
        ['write -P 0x01 0 2M', 'write -P 0x02 9M 1M', `write -P 0x03 ${24 * MiB - 512} 512`],
        'raw',
      );
      writeDisk(flat(2001), ['write -P 0x04 1M 1M'], 'raw');
    },
    taken: 'full',
  },
  {
    what: 'an incremental, changes on every page of disk 2000',
    change: () =>
      writeDisk(
        flat(2000),
        ['write -P 0x11 1M 64k', 'write -P 0x12 5M 64k', 'write -P 0x13 9M 128k', 'write -P 0x14 13M 64k'],
        'raw',
      ),
    taken: 'incremental',
  },
  {
    what: 'an incremental with zeroes written over data',
    change: () => {
      writeDisk(flat(2000), ['write -z 0 1M', 'write -P 0x21 17M 64k', 'write -P 0x22 21M 64k'], 'raw');
      writeDisk(flat(2001), ['write -z 1M 512k'], 'raw');
    },
    taken: 'incremental',
  },
  {
    what: 'an incremental where nothing changed',
    change: () => undefined,
    taken: 'incremental',
  },
  {
    what: 'a CBT reset (new change ids): a warned full into a new chain',
    change: () => {
      proxy.resetCbt(2000);
      writeDisk(flat(2000), ['write -P 0x41 3M 1M'], 'raw');
    },
    taken: 'full',
    warns: "VMware's change tracking of disk 2000 was reset",
  },
  {
    what: 'an incremental after the reset',
    change: () => writeDisk(flat(2001), ['write -P 0x51 7M 64k'], 'raw'),
    taken: 'incremental',
  },
  {
    what: 'disk 2001 grown 8 -> 12 MiB, written past its old end: a warned full into a new chain',
    change: async () => {
      await growDisk2001(GROWN);
      writeDisk(flat(2001), ['write -P 0x61 10M 1M', `write -P 0x62 ${GROWN - 4096} 4096`], 'raw');
    },
    taken: 'full',
    warns: 'disk 2001 changed size since backup',
  },
  {
    what: 'an incremental on the grown disk',
    change: () => writeDisk(flat(2001), ['write -P 0x71 9M 64k', 'write -P 0x72 0 4k'], 'raw'),
    taken: 'incremental',
  },
  {
    what: 'a change id vSphere rejects at the snapshot: a warned full into a new chain, in the same run',
    change: () => {
      proxy.rejectChangeIds(2000);
      writeDisk(flat(2000), ['write -P 0x81 11M 2M'], 'raw');
    },
    taken: 'full',
    warns: 'taking a full backup into a new chain',
  },
  {
    what: 'an incremental after the rejected change id',
    change: () => writeDisk(flat(2000), ['write -P 0x91 22M 64k', 'write -z 11M 64k'], 'raw'),
    taken: 'incremental',
  },
  {
    what: 'an incremental on both disks',
    change: () => {
      writeDisk(flat(2000), ['write -P 0xa1 4M 4M'], 'raw');
      writeDisk(flat(2001), ['write -P 0xa2 11M 1M'], 'raw');
    },
    taken: 'incremental',
  },
  {
    what: 'the last incremental',
    change: () => writeDisk(flat(2000), ['write -P 0xb1 23M 64k'], 'raw'),
    taken: 'incremental',
  },
];

// backup id -> copies of the flat files as they were when it was taken
const copiesOf = new Map<string, Map<number, string>>();
// SOAP calls of each incremental run, by method
const incrementalCalls: Map<string, number>[] = [];

describe('twelve generations of a VMware VM (vmware-simulated: vcsim + a faked CBT)', () => {
  it('simulated vSphere: fulls, paged incrementals, a CBT reset, a disk grown, a change id rejected: each generation is the disks at that moment', async () => {
    for (const [index, generation] of GENERATIONS.entries()) {
      await generation.change();
      const before = new Map(proxy.calls);
      const servedBefore = proxy.dataBytes;
      const result = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
      expect(result.exitCode, `${generation.what}:\n${result.stdout}\n${result.stderr}`).toBe(0);
      const point = (await listBackups(ws.db, 'vmw')).at(-1)!;
      expect(point.status, generation.what).toBe('complete');
      expect(point.type, generation.what).toBe(generation.taken);
      const events = parseEvents(result.stdout);
      const warnings = JSON.stringify(events.filter((event) => event.type === 'warning'));
      // Only the areas vSphere named are read from the datastore, each once.
      const listed = events.filter((event) => event.type === 'step-done' && event.step === 'snapshot-source').at(-1);
      const toRead = listed?.type === 'step-done' ? Number(listed.facts?.bytesToRead) : NaN;
      expect(proxy.dataBytes - servedBefore, generation.what).toBe(toRead);
      if (generation.warns !== undefined) expect(warnings, generation.what).toContain(generation.warns);
      else expect(warnings, generation.what).toBe('[]');
      const copies = new Map<number, string>();
      for (const key of KEYS) {
        copies.set(key, keepCopy(flat(key), path.join(ws.dir, `disk-${key}.g${index + 1}.raw`)));
        const disk = point.disks.find((each) => each.diskKey === key)!;
        expect(imageInfo(disk.file)['virtual-size'], `${generation.what}, disk ${key}`).toBe(sizes.get(key));
      }
      copiesOf.set(point.id, copies);
      if (generation.taken === 'incremental' && generation.warns === undefined) {
        const calls = new Map<string, number>();
        for (const [method, count] of proxy.calls) {
          const more = count - (before.get(method) ?? 0);
          if (more > 0) calls.set(method, more);
        }
        incrementalCalls.push(calls);
        // Paged to each disk's end: 24 MiB / 4 MiB = 6 answers for 2000, 2 or 3 for 2001.
        expect(calls.get('QueryChangedDiskAreas'), generation.what).toBe(6 + Math.ceil(sizes.get(2001)! / PAGE));
      }
    }
    const points = (await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete');
    expect(points).toHaveLength(GENERATIONS.length);
    expect(new Set(points.map((point) => point.chainId)).size).toBe(4);
    expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
    // The figure of docs/vmware.md: SOAP calls of one incremental of two disks.
    console.log(
      `SOAP calls per incremental (2 disks, ${PAGE / MiB} MiB pages): ${JSON.stringify(incrementalCalls.map((calls) => Object.fromEntries(calls)))}`,
    );
  }, 600_000);

  it('simulated vSphere: every one of the twelve points restores (sendense-run restore, verify) byte for byte as the disks were', async () => {
    const points = (await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete');
    expect(points).toHaveLength(GENERATIONS.length);
    for (const point of points) {
      const restored = await restoreToFiles({
        dir: ws.dir,
        db: ws.db,
        vm: 'vmw',
        repository: path.join(ws.dir, 'repository'),
        ports: [first, last],
        point: point.id,
        keys: [...KEYS],
      });
      for (const [key, file] of restored) {
        expect(differenceBetween(file, copiesOf.get(point.id)!.get(key)!, 'raw'), `${point.id} disk ${key}`).toBe('');
        rmSync(file);
      }
    }
  }, 600_000);
});
