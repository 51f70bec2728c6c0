// The one suite every copy target runs (src/copy/copy-target.ts), as restic runs one suite on each
// backend: a test file per target (./ssh-copy-target.test.ts, ./dir-copy-target.test.ts,
// ./s3-copy-target.test.ts) says how to make one and what it can do, and gets every case here.
// Put, list, read; a file of several parts got back byte for byte; no half-written file ever under
// its real name; a put killed half-way, then put again (resumed where the target can); what a
// kill left, removed as doctor removes it; a VM's points sent by the real send logic and merged by
// copy.retention there, each point left reading as its source did; space given back where the
// target can; and its errors, one line each.

import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyPlace } from '../../../src/copy/copy-place.js';
import {
  finishCopyMerge,
  pruneCopy,
  prunedOnCopy,
  readCopyPoints,
  type CopyPlace,
} from '../../../src/copy/copy-retention.js';
import type { CopyCapabilities, CopyTarget } from '../../../src/copy/copy-target.js';
import { copyVm } from '../../../src/copy/copy-vm.js';
import { fileBytes, textBytes, type OutgoingBytes } from '../../../src/copy/outgoing-bytes.js';
import { partialFiles } from '../../../src/copy/partial-files.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { restoredDifference } from '../../restore/restore-plan.js';
import { backUpPoints, type PointChain } from '../../retention/point-chain.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { portRangeForTestFile } from '../../support/vm-disks.js';

const MiB = 1024 * 1024;

/** How a test file makes its target, and what it says that target can do. */
export interface CopyTargetInstance {
  /** A target whose root is missing; `say` hears what a run would be told. */
  make(name: string, say: (message: string) => void): Promise<CopyTarget>;
  /** The capabilities it offers (and no other). */
  readonly capabilities: readonly (keyof CopyCapabilities)[];
  /** Whether a put killed half-way left what it had sent of `relative` there (a partial file, an upload's parts). */
  partialLeft(target: CopyTarget, relative: string): Promise<boolean>;
  /** A put again after a kill keeps what the killed one had sent (and says so). */
  readonly resumes: boolean;
  /** A target whose puts are refused (no space left, access denied), and the line that says why. */
  refusing(say: (message: string) => void): Promise<{ readonly target: CopyTarget; readonly error: RegExp }>;
  /** The file's bytes brought to `file` on the hub, by what the target offers (its host's files, a download). */
  fetch(target: CopyTarget, relative: string, file: string): Promise<void>;
  /** Called once after the file's tests. */
  done?(): Promise<void>;
}

// Bytes of `size` that stop after `sent` bytes once `kill` settles: a hub killed half-way.
function killedAfter(buffer: Buffer, sent: number, kill: () => Promise<void>): OutgoingBytes {
  return {
    size: buffer.length,
    async *[Symbol.asyncIterator]() {
      for (let at = 0; at < sent; at += MiB) yield buffer.subarray(at, Math.min(sent, at + MiB));
      await kill();
      throw new Error('the hub was killed');
    },
    sha256: () => createHash('sha256').update(buffer).digest('hex'),
    handedOut: Promise.resolve(),
  };
}

function bufferBytes(buffer: Buffer): OutgoingBytes {
  return {
    size: buffer.length,
    async *[Symbol.asyncIterator]() {
      for (let at = 0; at < buffer.length; at += MiB) yield buffer.subarray(at, at + MiB);
    },
    sha256: () => createHash('sha256').update(buffer).digest('hex'),
    handedOut: Promise.resolve(),
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export function copyTargetSuite(name: string, instance: CopyTargetInstance): void {
  const ports = portRangeForTestFile();
  const ws = useRunWorkspace(`sendense-copy-suite-${name}-`, { per: 'file' });
  const said: string[] = [];
  const say = (message: string) => said.push(message);
  let target: CopyTarget;
  // 20 MiB: more than one part of an upload (16 MiB), so a kill can leave one part there.
  const large = randomBytes(20 * MiB);

  beforeAll(async () => {
    target = await instance.make('copy', say);
  });
  afterAll(async () => {
    await instance.done?.();
  });

  describe(`the ${name} copy target`, () => {
    it('offers the capabilities it says it has, and no other', () => {
      for (const capability of ['host', 'download', 'reclaim', 'locks'] as const) {
        expect(target.capability(capability) !== undefined, capability).toBe(
          instance.capabilities.includes(capability),
        );
      }
    });

    it('puts files, lists them with their sizes, reads them back, and tells the same bytes from others', async () => {
      expect(await target.inspect()).toMatchObject({ state: 'missing' });
      await target.put('vm/disk-2000/a.json', textBytes('{"a":1}\n'));
      await target.put('vm/domain/a.xml', textBytes('<domain/>\n'));
      expect(Object.fromEntries(await target.list('vm'))).toEqual({ 'disk-2000/a.json': 8, 'domain/a.xml': 10 });
      expect(await target.list('other')).toEqual(new Map());
      expect(await target.read('vm/disk-2000/a.json')).toBe('{"a":1}\n');
      expect(await target.inspect()).toMatchObject({ state: 'directory', entries: ['vm'] });
      writeFileSync(path.join(ws.dir, 'same.json'), '{"a":1}\n');
      writeFileSync(path.join(ws.dir, 'other.json'), '{"a":2}\n');
      expect(await target.sameAs('vm/disk-2000/a.json', path.join(ws.dir, 'same.json'))).toBe(true);
      expect(await target.sameAs('vm/disk-2000/a.json', path.join(ws.dir, 'other.json'))).toBe(false);
    });

    it('gets a file of several parts back byte for byte', async () => {
      writeFileSync(path.join(ws.dir, 'large'), large);
      await target.put('vm/disk-2000/large.qcow2', fileBytes(path.join(ws.dir, 'large'), large.length));
      expect((await target.list('vm')).get('disk-2000/large.qcow2')).toBe(large.length);
      expect(await target.sameAs('vm/disk-2000/large.qcow2', path.join(ws.dir, 'large'))).toBe(true);
      await instance.fetch(target, 'vm/disk-2000/large.qcow2', path.join(ws.dir, 'large.back'));
      expect(sha256(readFileSync(path.join(ws.dir, 'large.back')))).toBe(sha256(large));
    });

    it('never lists, reads or counts a file under its real name before all of it is in place', async () => {
      const stops = killedAfter(large, 4 * MiB, async () => {});
      await expect(target.put('vm/disk-2000/short.qcow2', stops)).rejects.toThrow();
      expect((await target.list('vm')).has('disk-2000/short.qcow2')).toBe(false);
      expect(await target.read('vm/disk-2000/short.qcow2')).toBeUndefined();
      expect(await target.sameAs('vm/disk-2000/short.qcow2', path.join(ws.dir, 'large'))).toBe(false);
      // What place-file does after a failed put: its partial file removed.
      await target.remove(['vm/disk-2000/short.qcow2.partial']);
      expect(await instance.partialLeft(target, 'vm/disk-2000/short.qcow2')).toBe(false);
    });

    // Whoever can write the copy can plant a name there (docs/threat-model.md); a bucket has no symlinks.
    if (instance.capabilities.includes('host'))
      it("a symlink planted at a put's partial name is not followed: the file it pointed to is unchanged", async () => {
        const root = target.capability('host')!.root;
        const outside = path.join(ws.dir, 'not-ours.conf');
        writeFileSync(outside, 'not ours\n');
        // Its folder made by the target itself (as the user it writes as).
        await target.put('vm/disk-2000/before.json', textBytes('{}\n'));
        try {
          symlinkSync(outside, path.join(root, 'vm/disk-2000/planted.qcow2.partial'));
          await target.put('vm/disk-2000/planted.qcow2', textBytes('ours\n'));
          expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
          expect(await target.read('vm/disk-2000/planted.qcow2')).toBe('ours\n');
          expect(lstatSync(path.join(root, 'vm/disk-2000/planted.qcow2')).isFile()).toBe(true);
        } finally {
          await target.remove([
            'vm/disk-2000/planted.qcow2',
            'vm/disk-2000/planted.qcow2.partial',
            'vm/disk-2000/before.json',
          ]);
        }
      });

    it('a put killed half-way, put again, is in place whole (resumed where the target can)', async () => {
      const relative = 'vm/disk-2000/killed.qcow2';
      // Killed once 17 MiB were sent and what they hold is there (a partial file, an upload's first part).
      const kill = () =>
        vi.waitFor(async () => expect(await instance.partialLeft(target, relative)).toBe(true), {
          timeout: 60_000,
          interval: 200,
        });
      await expect(target.put(relative, killedAfter(large, 17 * MiB, kill))).rejects.toThrow();
      expect((await target.list('vm')).has('disk-2000/killed.qcow2')).toBe(false);
      said.length = 0;
      await target.put(relative, fileBytes(path.join(ws.dir, 'large'), large.length));
      expect(await target.sameAs(relative, path.join(ws.dir, 'large'))).toBe(true);
      expect(said.some((line) => /resumed the upload a killed run left/.test(line))).toBe(instance.resumes);
      expect(await instance.partialLeft(target, relative)).toBe(false);
    });

    it('what a kill left is removed as doctor removes it, by its recorded name', async () => {
      const relative = 'vm/disk-2000/left.qcow2';
      const kill = () =>
        vi.waitFor(async () => expect(await instance.partialLeft(target, relative)).toBe(true), {
          timeout: 60_000,
          interval: 200,
        });
      await expect(target.put(relative, killedAfter(large, 17 * MiB, kill))).rejects.toThrow();
      await target.removeLeft(target.absolute(`${relative}.partial`));
      expect(await instance.partialLeft(target, relative)).toBe(false);
      // Again: one not there is no error.
      await target.removeLeft(target.absolute(`${relative}.partial`));
      await target.remove(['vm/disk-2000/left.qcow2', 'vm/disk-2000/large.qcow2', 'vm/disk-2000/killed.qcow2']);
      expect([...(await target.list('vm')).keys()].filter((file) => !file.endsWith('.partial'))).toEqual([
        'disk-2000/a.json',
        'domain/a.xml',
      ]);
    });

    it('errors: a file that is not there, and a target that refuses to be written, one line each', async () => {
      expect(await target.read('vm/disk-2000/none.json')).toBeUndefined();
      expect(await target.sameAs('vm/disk-2000/none.json', path.join(ws.dir, 'same.json'))).toBe(false);
      await target.remove(['vm/disk-2000/none.json']);
      const download = target.capability('download');
      if (download !== undefined)
        await expect(download('vm/disk-2000/none.json', path.join(ws.dir, 'none'))).rejects.toThrow(/is not there/);
      const { target: refusing, error } = await instance.refusing(say);
      const failure = await refusing.put('vm/disk-2000/big.qcow2', bufferBytes(large)).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(failure?.message).toMatch(error);
      expect(failure?.message).not.toContain('\n');
      expect((await refusing.list('vm').catch(() => new Map<string, number>())).has('disk-2000/big.qcow2')).toBe(false);
    });
  });

  describe(`copy.retention on the ${name} copy target`, () => {
    let chain: PointChain;
    let store: Store;
    let copy: CopyTarget;
    let place: CopyPlace;

    beforeAll(async () => {
      const repository = path.join(ws.dir, 'repository');
      mkdirSync(repository);
      chain = await backUpPoints(ws.dir, path.join(ws.dir, 'state.db'), repository, ports, 3, 'vmc');
      store = await openStore(chain.db);
      const run = await store.createRun({ plan: 'offsite', kind: 'copy', trigger: 'manual' });
      copy = await instance.make('retention', say);
      const context = { target: copy, partials: partialFiles(store, run.id, copy, 'offsite') };
      place = copyPlace(context, path.join(repository, '.sendense-copy-work'), store, run.id)!;
      const sent = await copyVm(
        { ...context, store, repository, verify: false, verifyOptions: {}, progress: () => {} },
        chain.vm,
        () => {},
      );
      expect(sent).toMatchObject({ pointsSent: 3, notSent: [] });
    }, 300_000);
    afterAll(async () => {
      await store?.close();
    });

    it('merges the points copy.retention does not keep into the next, and the point kept reads as its source did', async () => {
      const hub = new Map(chain.ids.map((id) => [id, { disks: 2, protected: false }] as const));
      const run = await store.createRun({ plan: 'offsite', kind: 'copy', trigger: 'manual' });
      const pruned = await pruneCopy(
        place,
        { store, runId: run.id, plan: 'offsite', say: () => {} },
        chain.vm,
        { keepLast: 1 },
        hub,
      );
      expect(pruned).toEqual({ kept: 1, merged: 2, removed: 0 });
      const newest = chain.ids.at(-1)!;
      expect((await readCopyPoints(place, chain.vm, hub)).map((point) => point.id)).toEqual([newest]);
      expect(
        [...(await copy.list(chain.vm)).keys()].filter((file) => /\.(qcow2|partial|merge)$/.test(file)).sort(),
      ).toEqual([`disk-2000/${newest}.qcow2`, `disk-2001/${newest}.qcow2`]);
      for (const disk of chain.disks) {
        const file = path.join(ws.dir, `kept-${disk.key}.qcow2`);
        await instance.fetch(copy, `${chain.vm}/disk-${disk.key}/${newest}.qcow2`, file);
        expect(restoredDifference(chain.copies[newest]![disk.key]!, file, 'qcow2'), `disk ${disk.key}`).toBe('');
      }
      expect(await store.allNodeResources()).toEqual([]);
    });

    // Whoever can write the copy can write its journal and its pruned list (docs/threat-model.md).
    it('a merge journal or pruned list a run of ours did not write is refused: nothing on the copy changes', async () => {
      const vm = chain.vm;
      const newest = chain.ids.at(-1)!;
      const prunedBefore = await copy.read(`${vm}/.sendense-pruned`);
      expect(prunedBefore).toBeDefined();
      const filesBefore = Object.fromEntries(await copy.list(vm));
      for (const journal of [
        { parent: '../../../../../outside', child: newest, disks: [2000] },
        { parent: chain.ids[0], child: newest, disks: ['../../../../../outside'] },
        { parent: newest, child: newest, disks: [2000] },
        'not json',
      ]) {
        await copy.put(
          `${vm}/.sendense-merge`,
          textBytes(typeof journal === 'string' ? journal : JSON.stringify(journal)),
        );
        await expect(finishCopyMerge(place, vm, { store }), JSON.stringify(journal)).rejects.toThrow(
          /\.sendense-merge is not a merge a run of ours wrote \(.*\): nothing was merged or removed/,
        );
        expect(await copy.read(`${vm}/.sendense-pruned`)).toBe(prunedBefore);
      }
      await copy.remove([`${vm}/.sendense-merge`]);
      await copy.put(`${vm}/.sendense-pruned`, textBytes(`${prunedBefore}../../../../../outside ${newest}\n`));
      await expect(prunedOnCopy(place, vm)).rejects.toThrow(
        /\.sendense-pruned line \d+ is not "<id>" or "<id> <into>"/,
      );
      await copy.put(`${vm}/.sendense-pruned`, textBytes(prunedBefore!));
      expect(Object.fromEntries(await copy.list(vm))).toEqual(filesBefore);
      expect(await store.allNodeResources()).toEqual([]);
    });

    it('gives back the space of what no point reads any more, where the target can', async () => {
      const reclaim = copy.capability('reclaim');
      if (reclaim === undefined) return;
      const first = await reclaim(chain.vm);
      expect(first.deleted).toBeGreaterThan(0);
      expect(await reclaim(chain.vm)).toMatchObject({ deleted: 0, held: 0 });
    });
  });
}
