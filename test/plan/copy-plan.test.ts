// A copy plan (docs/copies.md): its defaults, and each mistake one line at FILE:LINE:COL, exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { CopyPlan } from '../../src/plan/types.js';
import { runCli, validateRefused as validate } from './run-validate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'copy-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Lines 1-3 are the header, then `repository` (line 4), then `copy` (line 5).
function planWith(to: string, extra = '', host = 'offsite1'): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(
    file,
    `version: 1\nkind: copy\nname: offsite\nrepository: { path: /backup/repository }\ncopy:\n  to:\n    type: ssh\n    node: { host: ${host}, user: sendense }\n${to}${extra}`,
  );
  return file;
}

describe('a copy plan', () => {
  it('needs the target and a path: every VM, verified first, the node like any node', async () => {
    const plan = (await loadPlanForRun(planWith('    path: /backup/offsite\n'))) as CopyPlan;
    expect(plan.kind).toBe('copy');
    expect(plan.vm).toEqual({ name: 'all' });
    expect(plan.copy).toEqual({
      vm: undefined,
      to: {
        type: 'ssh',
        node: {
          host: 'offsite1',
          port: 22,
          user: 'sendense',
          identityFile: undefined,
          knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
        },
        path: '/backup/offsite',
      },
      verify: true,
    });
    expect(Object.isFrozen(plan.copy.to)).toBe(true);
    const one = (await loadPlanForRun(
      planWith('    path: /backup/offsite\n  verify: false\nvm: { name: pgtest1 }\n'),
    )) as CopyPlan;
    expect(one.vm).toEqual({ name: 'pgtest1' });
    expect(one.copy).toMatchObject({ vm: 'pgtest1', verify: false });
  });

  it('copy.retention: keep-* rules only; refused for an encrypted repository, whose copy\u2019s host never gets the key', async () => {
    const kept = (await loadPlanForRun(
      planWith('    path: /backup/offsite\n  retention: { keepDaily: 14, keepMonthly: 6 }\n'),
    )) as CopyPlan;
    expect(kept.copy.retention).toEqual({ keepDaily: 14, keepMonthly: 6 });
    expect(await validate(planWith('    path: /backup/offsite\n  retention: { keepChains: 2 }\n'))).toMatch(
      /:10:16: unknown key 'keepChains' in copy\.retention/,
    );
    const keyFile = path.join(dir, 'repository.key');
    writeFileSync(keyFile, 'k'.repeat(44), { mode: 0o600 });
    const encrypted = path.join(dir, 'encrypted-copy.yaml');
    writeFileSync(
      encrypted,
      `version: 1\nkind: copy\nname: offsite\nrepository: { path: /backup/repository, encryption: { keyFile: ${keyFile} } }\ncopy:\n  to: { type: ssh, node: { host: offsite1, user: sendense }, path: /backup/offsite }\n  retention: { keepLast: 3 }\n`,
    );
    expect(await validate(encrypted)).toMatch(
      /:7:14: copy\.retention: an encrypted repository's copy cannot merge its points/,
    );
  });

  it('an s3 copy locks the points a keep-* rule keeps longer: the rule must be in copy.retention, and the days more than objectLock.days', async () => {
    const s3 = (lock: string, retention: string) => {
      const file = path.join(dir, `s3-${Math.random().toString(16).slice(2)}.yaml`);
      writeFileSync(
        file,
        `version: 1\nkind: copy\nname: offsite\nrepository: { path: /r }\ncopy:\n  to:\n    type: s3\n    endpoint: http://127.0.0.1:9000\n    bucket: offsite\n    accessKeyIdEnv: K\n    secretAccessKeyEnv: S\n    objectLock: ${lock}\n  retention: ${retention}\n`,
      );
      return file;
    };
    const plan = (await loadPlanForRun(
      s3('{ mode: compliance, days: 14, keepMonthly: 400 }', '{ keepDaily: 14, keepMonthly: 12 }'),
    )) as CopyPlan;
    expect(plan.copy.to).toMatchObject({ objectLock: { mode: 'compliance', days: 14, keepMonthly: 400 } });
    expect(await validate(s3('{ mode: compliance, days: 14, keepYearly: 2600 }', '{ keepDaily: 14 }'))).toMatch(
      /copy\.to\.objectLock\.keepYearly: locks longer the points copy\.retention\.keepYearly keeps, but copy\.retention has no keepYearly/,
    );
    expect(await validate(s3('{ mode: compliance, days: 14, keepDaily: 7 }', '{ keepDaily: 14 }'))).toMatch(
      /copy\.to\.objectLock\.keepDaily: 7 days is not longer than objectLock\.days \(14\)/,
    );
  });

  it('a relative path on the copy\u2019s host', async () => {
    expect(await validate(planWith('    path: backup/offsite\n'))).toContain(
      ":9:11: copy.to.path: must be an absolute path on the copy's host (got 'backup/offsite')",
    );
  });

  it('the repository itself, or a path inside it, on this host', async () => {
    expect(await validate(planWith('    path: /backup/repository/offsite\n', '', '127.0.0.1'))).toContain(
      ':9:11: copy.to.path: /backup/repository/offsite on 127.0.0.1 is the repository /backup/repository or inside it; a copy needs a directory of its own',
    );
    // Another host's /backup/repository is another directory.
    expect((await runCli(['validate', planWith('    path: /backup/repository\n')])).exitCode).toBe(0);
  });

  it('a copy in a directory of this host: an absolute path (~ expanded), never the repository nor inside it, no node', async () => {
    const file = path.join(dir, 'dir-copy.yaml');
    const write = (to: string) =>
      writeFileSync(
        file,
        `version: 1\nkind: copy\nname: second-disk\nrepository: { path: /backup/repository }\ncopy:\n  to: ${to}\n`,
      );
    write('{ type: dir, path: ~/copies/offsite }');
    const plan = (await loadPlanForRun(file)) as CopyPlan;
    expect(plan.copy.to).toEqual({ type: 'dir', path: path.join(os.homedir(), 'copies/offsite') });
    write('{ type: dir, path: copies/offsite }');
    expect(await validate(file)).toMatch(
      /:6:26: copy\.to\.path: must be an absolute path on this host \(got 'copies\/offsite'\)/,
    );
    write('{ type: dir, path: /backup/repository/offsite }');
    expect(await validate(file)).toMatch(
      /copy\.to\.path: \/backup\/repository\/offsite on this host is the repository \/backup\/repository or inside it/,
    );
    write('{ type: dir, node: { host: h, user: u }, path: /mnt/nas/copy }');
    expect(await validate(file)).toMatch(/copy\.to\.node: not allowed for a copy target of type dir/);
  });

  it('what a copy plan has no use for: a node, retention; and a target type other than ssh (a rate it takes)', async () => {
    const output = await validate(
      planWith('    path: /backup/offsite\n', 'retention: { keepLast: 3 }\nrate: 50MiB/s\n'),
    );
    expect(output).toMatch(/:10:1: .*retention/);
    expect(output).not.toMatch(/:11:1:|rate/);
    const wrongType = path.join(dir, 'wrong-type.yaml');
    writeFileSync(
      wrongType,
      'version: 1\nkind: copy\nname: offsite\nrepository: { path: /r }\ncopy:\n  to: { type: s3, node: { host: h, user: u }, path: /x }\n',
    );
    expect(await validate(wrongType)).toMatch(/:6:19: copy\.to\.node: not allowed for a copy target of type s3/);
    writeFileSync(
      wrongType,
      'version: 1\nkind: copy\nname: offsite\nrepository: { path: /r }\ncopy:\n  to: { type: ftp, node: { host: h, user: u }, path: /x }\n',
    );
    expect(await validate(wrongType)).toMatch(/:6:15: copy\.to\.type: must be one of ssh, dir, s3/);
  });
});
