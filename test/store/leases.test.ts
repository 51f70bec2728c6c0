import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { openStore, type Store } from '../../src/store/index.js';
import { claimPortRange } from '../support/port-slots.js';
import { DIALECTS, useStoreTarget } from '../support/store-dialects.js';

// A range no other test holds, below the kernel's ephemeral ports.
function randomRange(size: number): { first: number; last: number } {
  const [first, last] = claimPortRange(size);
  return { first, last };
}

// The first line a child prints, parsed; rejects if it exits before printing one.
function firstLine(child: ChildProcess): Promise<{ runId: string; ports: number[] }> {
  return new Promise((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) done(JSON.parse(text.slice(0, text.indexOf('\n'))));
    });
    child.on('exit', (code) => fail(new Error(`child ${child.pid} exited (code ${code}) before leasing`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((done) => child.on('exit', () => done()));
}

describe.each(DIALECTS)('port leases on %s', (dialect) => {
  const target = useStoreTarget(dialect);
  let store: Store;
  let runId: string;
  const servers: Server[] = [];

  beforeEach(async () => {
    store = await openStore(target.db);
    runId = (await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' })).id;
  });

  afterEach(async () => {
    await store.close();
    for (const server of servers.splice(0)) await new Promise((done) => server.close(done));
  });

  describe('leasePorts', () => {
    it('gives each run its own ports and takes them back on release', async () => {
      const { first, last } = randomRange(10);
      const a = await store.leasePorts({ runId, count: 3, first, last, isFree: async () => true });
      expect(a.ports).toEqual([first, first + 1, first + 2]);
      const other = (await store.createRun({ plan: 'other', kind: 'backup', trigger: 'manual' })).id;
      const b = await store.leasePorts({ runId: other, count: 2, first, last, isFree: async () => true });
      expect(b.ports).toEqual([first + 3, first + 4]);
      expect((await store.listLeases()).map((lease) => [lease.port, lease.runId])).toEqual([
        [first, runId],
        [first + 1, runId],
        [first + 2, runId],
        [first + 3, other],
        [first + 4, other],
      ]);
      expect(await store.releasePorts(runId)).toBe(3);
      await store.releasePort(first + 3);
      expect((await store.listLeases()).map((lease) => lease.port)).toEqual([first + 4]);
    });

    it('skips a port another program listens on (default probe)', async () => {
      const { first, last } = randomRange(5);
      const server = createServer();
      servers.push(server);
      await new Promise<void>((done) => server.listen(first, '127.0.0.1', done));
      const result = await store.leasePorts({ runId, count: 2, first, last });
      // Other tests run beside this one and may hold a port of the range too: what matters is that
      // the one this test holds is skipped and reported, and two others are leased.
      expect(result.ports).toHaveLength(2);
      expect(result.ports).not.toContain(first);
      expect(result.busy).toContain(first);
      for (const port of result.ports) expect(port).toBeGreaterThan(first);
    });

    it('says which range ran out and why', async () => {
      const { first, last } = randomRange(3);
      await store.leasePorts({ runId, count: 1, first, last, isFree: async () => true });
      const failure = store.leasePorts({ runId, count: 2, first, last, isFree: async (port) => port !== last });
      await expect(failure).rejects.toBeInstanceOf(SendenseError);
      await expect(failure).rejects.toThrow(
        `no free NBD port in ${first}-${last}: need 2, 1 leased by other runs, 1 in use by other programs`,
      );
      expect(await store.listLeases()).toHaveLength(1);
    });

    it('reclaims leases of a dead process on this host and reports them', async () => {
      const { first, last } = randomRange(2);
      const child = spawn('true');
      const deadPid = await new Promise<number>((done) => child.on('exit', () => done(child.pid!)));
      await store.leasePorts({ runId, count: 2, first, last, pid: deadPid, isFree: async () => true });
      const result = await store.leasePorts({ runId, count: 2, first, last, isFree: async () => true });
      expect(result.ports).toEqual([first, last]);
      expect(result.reclaimed.map((lease) => [lease.port, lease.pid, lease.reason])).toEqual([
        [first, deadPid, 'process-gone'],
        [last, deadPid, 'process-gone'],
      ]);
    });

    it('reclaims leases of a run that has ended', async () => {
      const { first, last } = randomRange(1);
      await store.leasePorts({ runId, count: 1, first, last, isFree: async () => true });
      await store.finishRun(runId, 'failed', 'crashed before cleanup');
      const next = (await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' })).id;
      const result = await store.leasePorts({ runId: next, count: 1, first, last, isFree: async () => true });
      expect(result.ports).toEqual([first]);
      expect(result.reclaimed.map((lease) => [lease.runId, lease.reason])).toEqual([[runId, 'run-ended']]);
    });

    it('keeps leases of a live process', async () => {
      const { first, last } = randomRange(1);
      await store.leasePorts({ runId, count: 1, first, last, isFree: async () => true });
      await expect(store.leasePorts({ runId, count: 1, first, last, isFree: async () => true })).rejects.toThrow(
        /no free NBD port/,
      );
    });
  });

  describe('leasePorts across processes', () => {
    let bundleDir: string;
    let bundle: string;

    // The real store code, bundled so plain `node` children can import it. The bundle lives inside
    // the checkout, so the SQLite driver it loads at run time resolves from node_modules.
    beforeAll(async () => {
      await mkdir(resolve('.tmp'), { recursive: true });
      bundleDir = await mkdtemp(join(resolve('.tmp'), 'store-bundle-'));
      bundle = join(bundleDir, 'store.mjs');
      await build({
        entryPoints: [resolve('src/store/index.ts')],
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile: bundle,
        logLevel: 'silent',
        packages: 'external',
      });
    });

    afterAll(async () => {
      await rm(bundleDir, { recursive: true, force: true });
    });

    it('never gives two processes started at the same moment the same port (fresh database)', async () => {
      const children = 6;
      const perChild = 5;
      const { first, last } = randomRange(children * perChild + 5);
      const dbPath = dialect === 'postgres' ? target.db : join(target.dir, 'fresh', 'concurrent.db');
      const script = join(target.dir, 'lease.mjs');
      await writeFile(
        script,
        `import { openStore } from ${JSON.stringify(bundle)};
  const [dbPath, startAt, first, last, count] = process.argv.slice(2);
  // All children start the race at the same wall-clock instant.
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  const store = await openStore(dbPath);
  const run = await store.createRun({ plan: 'p' + process.pid, kind: 'backup', trigger: 'manual' });
  const result = await store.leasePorts({ runId: run.id, count: Number(count), first: Number(first), last: Number(last) });
  console.log(JSON.stringify({ pid: process.pid, runId: run.id, ports: result.ports }));
  // Stay alive (holding the leases) until the parent has heard from every child.
  process.stdin.resume();
  await new Promise((r) => process.stdin.on('end', r));
  await store.close();
  `,
      );
      const startAt = Date.now() + 1500;
      const started = Array.from({ length: children }, () =>
        spawn(process.execPath, [script, dbPath, String(startAt), String(first), String(last), String(perChild)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      let results: { runId: string; ports: number[] }[];
      try {
        results = await Promise.all(started.map((child) => firstLine(child)));
      } finally {
        for (const child of started) child.stdin!.end();
        await Promise.all(started.map((child) => exited(child)));
      }
      const all = results.flatMap((result) => result.ports);
      expect(results.every((result) => result.ports.length === perChild)).toBe(true);
      expect(new Set(all).size).toBe(children * perChild);
      // The database agrees with what each child was told.
      const check = await openStore(dbPath);
      try {
        const leases = await check.listLeases();
        for (const result of results) {
          expect(leases.filter((lease) => lease.runId === result.runId).map((lease) => lease.port)).toEqual(
            result.ports,
          );
        }
      } finally {
        await check.close();
      }
    });
  });
});
