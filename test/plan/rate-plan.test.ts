// A plan's rate (docs/bandwidth.md): read as bytes per second by every kind with a data path the
// node transfer (or a recover's move) limits; refused, in one line at FILE:LINE:COL, where nothing
// could hold to it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import { runCli } from './run-validate.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), 'rate-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const QEMU_VM =
  'vm:\n  name: web01\n  source:\n    type: qemu\n    disks:\n      - { key: 2000, path: /images/a.qcow2 }\n';
const REPOSITORY = 'repository:\n  path: /backup/repository\n';
const PLANS: Record<string, string> = {
  backup: `kind: backup\n${QEMU_VM}${REPOSITORY}`,
  incremental: `kind: incremental\n${QEMU_VM}${REPOSITORY}`,
  'restore into files': `kind: restore\nvm:\n  name: web01\n${REPOSITORY}restore:\n  target: { type: file, path: "/restore/web01-{key}.qcow2" }\n`,
  'restore into NBD exports': `kind: restore\nvm:\n  name: web01\n${REPOSITORY}restore:\n  target: { type: nbd, url: "nbd://10.0.0.5:10809/web01-{key}" }\n`,
  replicate: `kind: replicate\n${QEMU_VM}replica:\n  path: /images/r.qcow2\n`,
};

// Line 1: version, line 2: name, line 3: rate.
function planFile(rate: string, body: string): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, `version: 1\nname: web01-plan\nrate: ${rate}\n${body}`);
  return file;
}

describe("a plan's rate", () => {
  for (const [kind, body] of Object.entries(PLANS)) {
    it(`${kind}: read as bytes per second`, async () => {
      expect((await loadPlanForRun(planFile('50MiB/s', body))).rate).toBe(50 * MiB);
      expect((await loadPlanForRun(planFile('200MB/s', body))).rate).toBe(200e6);
    });
  }

  it('no rate: none of its own', async () => {
    const file = path.join(dir, 'no-rate.yaml');
    writeFileSync(file, `version: 1\nname: web01-plan\n${PLANS.backup}`);
    expect((await loadPlanForRun(file)).rate).toBeUndefined();
  });

  const MISTAKES: readonly [string, string, string, RegExp][] = [
    ['a rate without a unit of time', '50MiB', PLANS.backup!, /:3:7: rate: must be a rate like 50MiB\/s/],
    [
      'a rate of nothing',
      '0MiB/s',
      PLANS.replicate!,
      /:3:7: rate: must be a rate like 50MiB\/s or 200MB\/s \(got '0MiB\/s'\)/,
    ],
    [
      'a rate in a verify plan',
      '50MiB/s',
      `kind: verify\n${REPOSITORY}verify:\n  vm: all\n`,
      /:3:1: rate: not allowed in a plan of kind verify/,
    ],
    [
      'a rate in a files restore',
      '50MiB/s',
      `kind: restore\nvm:\n  name: web01\n${REPOSITORY}restore:\n  disks: [2000]\n  target: { type: files, paths: ["p1:/etc"], to: /restore/etc }\n`,
      /:3:7: rate: a files restore \(restore.target.type: files\) cannot be limited; remove rate/,
    ],
  ];
  for (const [name, rate, body, message] of MISTAKES) {
    it(`says where ${name} is, in one line`, async () => {
      const result = await runCli(['validate', planFile(rate, body)]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout + result.stderr).toMatch(message);
      expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
