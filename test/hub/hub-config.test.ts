// The hub config file: defaults, sizes, and one error naming file:line:column per mistake; and
// how the memory budget becomes slots and per-disk transfer settings.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskMemory, FULL_IN_FLIGHT, HUB_BASE_MEMORY, slotsWanted, tuneDisks } from '../../src/hub/disk-budget.js';
import { parseMemory } from '../../src/format/byte-size.js';
import { DEFAULT_HUB, loadHubConfig, parseHubConfig } from '../../src/hub/hub-config.js';
import { checkHubRepository, checkHubScope, hubPortRange } from '../../src/hub/hub-scope.js';
import { ANY_HUB_QUEUE, fireQueue } from '../../src/schedule/shared-fires.js';

const MiB = 1024 ** 2;
const dir = mkdtempSync(path.join(tmpdir(), 'hub-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(text: string): string {
  const file = path.join(dir, `hub-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

function errorOf(text: string): string {
  const file = fileWith(text);
  try {
    loadHubConfig(file);
  } catch (error) {
    return (error as { describe(): string }).describe().replace(file, 'FILE');
  }
  throw new Error('no error');
}

describe('hub config', () => {
  it('every key is optional: an empty file and a missing default file give the defaults', () => {
    const empty = parseHubConfig('', '/x/hub.yaml');
    expect(empty.maxParallelDisks).toBe(16);
    expect(empty.memory).toBe(1.5 * 1024 ** 3);
    expect(empty.ports, 'unset: each plan keeps its nbd.ports').toBeUndefined();
    expect(empty.name.length).toBeGreaterThan(0);
    expect(DEFAULT_HUB.maxParallelDisks).toBe(16);
  });

  it('reads every key', () => {
    const hub = loadHubConfig(
      fileWith(
        'name: hub-a\nrepositories: [/backup/repository]\nmaxParallelDisks: 4\nmemory: 800MiB\nnbd: { ports: 20000-20050 }\n',
      ),
    );
    expect(hub).toMatchObject({
      name: 'hub-a',
      repositories: ['/backup/repository'],
      maxParallelDisks: 4,
      memory: 800 * MiB,
      ports: { first: 20000, last: 20050 },
    });
    expect(Object.isFrozen(hub)).toBe(true);
  });

  it('sizes: binary and decimal units, plain bytes', () => {
    expect(parseMemory('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory('2G')).toBe(2e9);
    expect(parseMemory('512 MiB')).toBe(512 * MiB);
    expect(parseMemory(1048576)).toBe(MiB);
    expect(parseMemory('lots')).toBeUndefined();
  });

  it('a mistake is one error naming file:line:column and the key', () => {
    expect(errorOf('maxParallelDisks: 4\nmemroy: 1GiB\n')).toBe(
      "FILE:2:1: hub config: unknown key 'memroy' (known: name, repositories, maxParallelDisks, memory, nbd, rate, windows, notify, api)",
    );
    // The API's section (docs/api.md#serving-it): plain HTTP only on loopback, HOST:PORT, absolute paths.
    expect(errorOf('api:\n  listen: 0.0.0.0:8420\n  plainHttp: true\n')).toMatch(
      /^FILE:3:14: hub config: api.plainHttp is allowed only on a loopback address \(listen is 0.0.0.0\)/,
    );
    expect(errorOf('api:\n  listen: here\n')).toMatch(/^FILE:2:11: hub config: api.listen must be HOST:PORT/);
    expect(errorOf('api:\n  tls: { cert: cert.pem, key: /k }\n')).toMatch(
      /hub config: api.tls.cert must be an absolute path/,
    );
    expect(errorOf('api:\n  lisen: 127.0.0.1:1\n')).toMatch(
      /unknown key 'api.lisen' \(known: listen, tls, plainHttp, stateDir\)/,
    );
    expect(errorOf('name: a\nmaxParallelDisks: 0\n')).toBe(
      'FILE:2:19: hub config: maxParallelDisks must be an integer from 1 to 1000 (got 0)',
    );
    expect(errorOf('memory: lots\n')).toMatch(/^FILE:1:9: hub config: memory must be a size like 1.5GiB/);
    expect(errorOf('memory: 100MiB\n')).toMatch(/^FILE:1:9: hub config: memory 100MiB is below the 256MiB/);
    expect(errorOf('nbd:\n  ports: 20050-20000\n')).toMatch(/^FILE:2:10: hub config: nbd.ports must be FIRST-LAST/);
    expect(errorOf('repositories: [backup]\n')).toMatch(
      /^FILE:1:16: hub config: repositories\[0\] must be an absolute path/,
    );
    expect(errorOf('memory: [\n')).toMatch(/^FILE:\d+:\d+: YAML error/);
  });

  it('rate and windows (docs/bandwidth.md): rates as plans write them, days, times to the second, 24:00 as an end', () => {
    const hub = parseHubConfig(
      [
        'rate: 50MiB/s',
        'windows:',
        '  - { days: mon-fri, from: "08:00", to: "18:00", rate: 20MiB/s }',
        '  - { days: "sat,sun", from: 22:00:30, to: 06:00, rate: 100MB/s }',
        '  - { from: "12:00", to: "24:00", rate: 1.5 MiB/s }',
      ].join('\n'),
      '/x/hub.yaml',
    );
    expect(hub.rate).toBe(50 * MiB);
    expect(hub.windows).toEqual([
      { days: [1, 2, 3, 4, 5], from: 8 * 3600, to: 18 * 3600, rate: 20 * MiB, text: 'mon-fri 08:00-18:00' },
      { days: [0, 6], from: 22 * 3600 + 30, to: 6 * 3600, rate: 100e6, text: 'sat,sun 22:00:30-06:00' },
      { days: [0, 1, 2, 3, 4, 5, 6], from: 12 * 3600, to: 24 * 3600, rate: 1.5 * MiB, text: 'mon-sun 12:00-24:00' },
    ]);
    expect(Object.isFrozen(hub.windows![0])).toBe(true);
    expect(parseHubConfig('', '/x.yaml').windows).toBeUndefined();
  });

  it('a mistake in rate or windows is one error naming file:line:column', () => {
    expect(errorOf('rate: fast\n')).toBe(
      'FILE:1:7: hub config: rate must be a rate like 50MiB/s or 200MB/s (got "fast")',
    );
    expect(errorOf('rate: 50MiB\n')).toBe(
      'FILE:1:7: hub config: rate must be a rate like 50MiB/s or 200MB/s (got "50MiB")',
    );
    expect(errorOf('windows: mon-fri\n')).toBe(
      'FILE:1:10: hub config: windows must be a list of { days, from, to, rate }',
    );
    expect(errorOf('windows:\n  - 5\n')).toBe(
      'FILE:2:5: hub config: windows[0] must be a mapping { days, from, to, rate }',
    );
    const entry = (text: string) =>
      `windows:\n  - { days: mon-fri, from: "08:00", to: "18:00", rate: 20MiB/s }\n  - ${text}\n`;
    expect(errorOf(entry('{ from: "08:00", to: "18:00", rate: 1MiB/s, speed: 2 }'))).toBe(
      "FILE:3:49: hub config: unknown key 'windows[1].speed' (known: days, from, to, rate)",
    );
    expect(errorOf(entry('{ days: weekdays, from: "08:00", to: "18:00", rate: 1MiB/s }'))).toBe(
      'FILE:3:13: hub config: windows[1].days must be days like mon-fri, sat,sun or mon (got "weekdays")',
    );
    expect(errorOf(entry('{ days: mon, from: "8am", to: "18:00", rate: 1MiB/s }'))).toBe(
      'FILE:3:24: hub config: windows[1].from must be a time of day "HH:MM" or "HH:MM:SS" (got "8am")',
    );
    expect(errorOf(entry('{ days: mon, from: "08:00", to: "25:00", rate: 1MiB/s }'))).toBe(
      'FILE:3:37: hub config: windows[1].to must be a time of day "HH:MM" or "HH:MM:SS" (or "24:00") (got "25:00")',
    );
    expect(errorOf(entry('{ days: mon, from: "08:00", to: "8:00", rate: 1MiB/s }'))).toBe(
      'FILE:3:37: hub config: windows[1]: from and to are the same time, a window of no time',
    );
    expect(errorOf(entry('{ days: mon, from: "08:00", to: "18:00" }'))).toBe(
      'FILE:3:5: hub config: windows[1] needs rate',
    );
    expect(errorOf(entry('{ days: mon, from: "08:00", to: "18:00", rate: 0MiB/s }'))).toBe(
      'FILE:3:52: hub config: windows[1].rate must be a rate like 50MiB/s or 200MB/s (got "0MiB/s")',
    );
  });

  it('--hub-config naming a missing file is an error', () => {
    expect(() => loadHubConfig(path.join(dir, 'none.yaml'))).toThrow(/cannot read the hub config/);
  });
});

describe('memory budget', () => {
  const hub = { memory: 1.5 * 1024 ** 3, maxParallelDisks: 16 };

  it('one disk alone gets the full speed of today (16 requests in flight, 4 connections)', () => {
    const slots = slotsWanted(hub, 1);
    expect(slots).toBeGreaterThan(1);
    expect(tuneDisks(hub, slots, 1)).toEqual({ parallelDisks: 1, inFlight: FULL_IN_FLIGHT, connections: 4 });
  });

  it('100 disks: at most maxParallelDisks at once, and the estimate stays within the budget', () => {
    const slots = slotsWanted(hub, 100);
    expect(slots).toBe(16);
    const tuning = tuneDisks(hub, slots, 100);
    expect(tuning.parallelDisks).toBe(16);
    // Only the disks in transfer have a qemu-nbd running (the others start theirs in turn).
    const estimate = HUB_BASE_MEMORY + 16 * diskMemory(tuning.inFlight);
    expect(estimate).toBeLessThanOrEqual(hub.memory);
  });

  it('a small budget (512 MiB) copies fewer disks at once than its slots, so the estimate stays within it', () => {
    const small = { memory: 512 * 1024 ** 2, maxParallelDisks: 16 };
    const slots = slotsWanted(small, 16);
    const tuning = tuneDisks(small, slots, 16);
    expect(tuning.parallelDisks).toBeLessThan(16);
    expect(HUB_BASE_MEMORY + tuning.parallelDisks * diskMemory(tuning.inFlight)).toBeLessThanOrEqual(small.memory);
  });

  it('a run granted fewer slots than it wanted copies fewer disks at once', () => {
    expect(tuneDisks(hub, 2, 10).parallelDisks).toBe(2);
  });
});

describe('hub scope', () => {
  const hub = parseHubConfig(
    'name: hub-a\nrepositories: [/backup/repository]\nnbd: { ports: 20000-20099 }\n',
    '/etc/sendense/hub.yaml',
  );

  it('a plan may use a repository inside the listed ones only', () => {
    expect(() => checkHubRepository(hub, '/backup/repository')).not.toThrow();
    expect(() => checkHubRepository(hub, '/backup/repository/sub')).not.toThrow();
    expect(() => checkHubRepository(hub, '/backup/repository-2')).toThrow(
      /repository \/backup\/repository-2 is not one hub hub-a may use/,
    );
  });

  it("a plan's nbd.ports narrows the hub's; the default range takes the hub's; no hub range keeps the plan's", () => {
    expect(hubPortRange(hub, { first: 10100, last: 10200 })).toEqual({ first: 20000, last: 20099 });
    expect(hubPortRange(hub, { first: 20050, last: 20200 })).toEqual({ first: 20050, last: 20099 });
    expect(() => hubPortRange(hub, { first: 30000, last: 30010 })).toThrow(/outside the hub's nbd.ports 20000-20099/);
    expect(hubPortRange(parseHubConfig('', '/x.yaml'), { first: 30000, last: 30010 })).toEqual({
      first: 30000,
      last: 30010,
    });
  });

  it('a plan without a repository (replicate) is checked for its ports only, and queued where every hub works', () => {
    expect(() => checkHubScope(hub, { nbd: { ports: { first: 10100, last: 10200 } } })).not.toThrow();
    expect(() => checkHubScope(hub, { nbd: { ports: { first: 30000, last: 30010 } } })).toThrow(
      /outside the hub's nbd.ports/,
    );
    expect(() =>
      checkHubScope(hub, { repository: { path: '/elsewhere' }, nbd: { ports: { first: 10100, last: 10200 } } }),
    ).toThrow(/is not one hub hub-a may use/);
    expect(fireQueue(undefined)).toBe(ANY_HUB_QUEUE);
    expect(fireQueue('/backup/repository')).toMatch(/^fires-[0-9a-f]{24}$/);
  });
});
