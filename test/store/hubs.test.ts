// Several hubs on one PostgreSQL (docs/how-it-works.md#scale): a fire is claimed by exactly one hub; a hub
// that stops beating has its runs failed and its port leases, VM locks and disk slots taken back
// by the others; a live hub's are kept; disk slots count per hub.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { parsePostgresUrl } from '../../src/store/database-target.js';
import { useStoreTarget } from '../support/store-dialects.js';

const free = async () => true;
let saved: string | undefined;

beforeAll(() => {
  // Beats every 0.1 s, dead after 0.6 s: the bound the tests wait out.
  saved = process.env.SENDENSE_HEARTBEAT_SECONDS;
  process.env.SENDENSE_HEARTBEAT_SECONDS = '0.1';
});

afterAll(() => {
  if (saved === undefined) delete process.env.SENDENSE_HEARTBEAT_SECONDS;
  else process.env.SENDENSE_HEARTBEAT_SECONDS = saved;
});

describe('the state database URL', () => {
  it('refuses a URL with a password and never repeats the password', () => {
    for (const url of [
      'postgres://backup:s3cret@db.example:5432/sendense',
      'postgresql://backup@db.example/sendense?password=s3cret',
    ]) {
      let message = '';
      try {
        parsePostgresUrl(url);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/contains a password/);
      expect(message).toMatch(/PGPASSWORD/);
      expect(message).not.toContain('s3cret');
    }
    expect(parsePostgresUrl('postgresql://backup@db.example/sendense')).toMatchObject({
      host: 'db.example',
      port: 5432,
      user: 'backup',
      database: 'sendense',
    });
    expect(() => parsePostgresUrl('postgres://db.example:5432/')).toThrow(/names no database/);
  });
});

describe('many hubs on one PostgreSQL', () => {
  const target = useStoreTarget('postgres');
  const stores: Store[] = [];
  const open = async (hub: string) => {
    const store = await openStore(target.db, { hub });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  it('gives a fire to exactly one of the hubs that claim it at once; a fire while it runs is skipped', async () => {
    const hubs = await Promise.all(['hub-1', 'hub-2', 'hub-3'].map(open));
    const fire = {
      plan: 'nightly',
      kind: 'backup' as const,
      trigger: 'schedule' as const,
      fire: 'nightly@2026-01-01T00:00:00.000Z',
    };
    const claims = await Promise.all(hubs.flatMap((hub) => [hub.claimFire(fire), hub.claimFire(fire)]));
    const won = claims.filter((claim) => claim.claimed === 'run');
    expect(won).toHaveLength(1);
    expect(claims.filter((claim) => claim.claimed === 'taken')).toHaveLength(5);
    const runs = await hubs[0]!.listRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'running', fire: fire.fire });
    expect(['hub-1', 'hub-2', 'hub-3']).toContain(runs[0]!.hub);

    const next = await hubs[1]!.claimFire({ ...fire, fire: 'nightly@2026-01-01T00:00:01.000Z' });
    expect(next.claimed).toBe('skipped');
    if (next.claimed === 'skipped')
      expect(next.run.error).toMatch(new RegExp(`still going \\(run ${runs[0]!.id} on hub ${runs[0]!.hub}`));
  });

  it("fails a dead hub's run and frees its leases, VM lock and disk slots; keeps a live hub's", async () => {
    const dead = await open('hub-dead');
    const live = await open('hub-live');
    const other = await open('hub-other');
    const deadRun = await dead.createRun({ plan: 'a', kind: 'backup', trigger: 'schedule' });
    const liveRun = await live.createRun({ plan: 'b', kind: 'backup', trigger: 'schedule' });
    const first = 30000 + Math.floor(Math.random() * 20000);
    await dead.leasePorts({ runId: deadRun.id, count: 2, first, last: first + 3, isFree: free });
    await live.leasePorts({ runId: liveRun.id, count: 2, first, last: first + 3, isFree: free });
    await dead.lockVm('vm-a', deadRun.id, 'a');
    await live.lockVm('vm-b', liveRun.id, 'b');
    await dead.tryTakeSlots({ runId: deadRun.id, plan: 'a', wanted: 1, limit: 1 });
    expect((await other.listLeases()).map((lease) => lease.hub)).toEqual([
      'hub-dead',
      'hub-dead',
      'hub-live',
      'hub-live',
    ]);
    await expect(other.reapDeadRuns()).resolves.toEqual([]);

    // hub-dead stops beating (its store closes without finishing the run, as kill -9 would leave it).
    await dead.close();
    const reaped = await other.reapDeadRuns();
    expect(reaped.map((run) => [run.id, run.status])).toEqual([[deadRun.id, 'failed']]);
    expect(reaped[0]!.error).toMatch(/hub hub-dead \(pid \d+ on .*\) stopped answering: no heartbeat/);
    expect((await other.listLeases()).map((lease) => lease.runId)).toEqual([liveRun.id, liveRun.id]);
    expect((await other.listVmLocks()).map((lock) => lock.vm)).toEqual(['vm-b']);
    expect(await other.listSlots()).toEqual([]);
    expect((await other.getRun(liveRun.id))?.status).toBe('running');
    await expect(other.lockVm('vm-b', 'x', 'b')).rejects.toThrow(/being backed up by run .* \(hub hub-live, pid/);
  });

  it("takes back another hub's lease once its heartbeat is older than the bound", async () => {
    const gone = await open('hub-gone');
    const taker = await open('hub-taker');
    const run = await gone.createRun({ plan: 'a', kind: 'backup', trigger: 'schedule' });
    const first = 30000 + Math.floor(Math.random() * 20000);
    await gone.leasePorts({ runId: run.id, count: 1, first, last: first, isFree: free });
    const mine = await taker.createRun({ plan: 'b', kind: 'backup', trigger: 'schedule' });
    await expect(taker.leasePorts({ runId: mine.id, count: 1, first, last: first, isFree: free })).rejects.toThrow(
      /no free NBD port/,
    );
    await gone.close();
    const result = await taker.leasePorts({ runId: mine.id, count: 1, first, last: first, isFree: free });
    expect(result.ports).toEqual([first]);
    expect(result.reclaimed.map((lease) => [lease.hub, lease.reason])).toEqual([['hub-gone', 'process-gone']]);
  });

  it("counts disk slots per hub: one hub's runs do not wait for another's", async () => {
    const a = await open('hub-a');
    const b = await open('hub-b');
    const runA = await a.createRun({ plan: 'a', kind: 'backup', trigger: 'schedule' });
    const runB = await b.createRun({ plan: 'b', kind: 'backup', trigger: 'schedule' });
    expect((await a.tryTakeSlots({ runId: runA.id, plan: 'a', wanted: 2, limit: 2 })).granted).toBe(2);
    expect((await b.tryTakeSlots({ runId: runB.id, plan: 'b', wanted: 2, limit: 2 })).granted).toBe(2);
  });
});

describe('backup order on PostgreSQL', () => {
  const target = useStoreTarget('postgres');
  let stores: Store[] = [];
  beforeEach(async () => {
    stores = await Promise.all([0, 1, 2, 3].map((i) => openStore(target.db, { hub: `hub-${i}` })));
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
  });

  it('records backups of several hubs at once, each in its own place in the order', async () => {
    const made = await Promise.all(
      stores.flatMap((store, i) =>
        [0, 1, 2].map(async (j) => {
          const run = await store.createRun({ plan: `p${i}${j}`, kind: 'backup', trigger: 'manual' });
          return store.createBackup({
            vm: `vm-${i}-${j}`,
            plan: `p${i}${j}`,
            type: 'full',
            repository: '/repo',
            runId: run.id,
          });
        }),
      ),
    );
    const listed = await stores[0]!.listBackups();
    expect(listed).toHaveLength(made.length);
    expect(new Set(listed.map((backup) => backup.id))).toEqual(new Set(made.map((backup) => backup.id)));
  });
});
