// Loading a plan for a run: env references, defaults, restore points, and the error a run stops at.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { loadPlanFile, loadPlanForRun } from '../../src/plan/load.js';
import type { RestorePlan } from '../../src/plan/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sendense-plan-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function planFile(text: string): Promise<string> {
  const file = path.join(dir, 'plan.yaml');
  await writeFile(file, text);
  return file;
}

const RESTORE = (point: string, extra = ''): string => `version: 1
kind: restore
name: r
vm: { name: pgtest1 }
repository:
  path: \${REPO}/repository
restore:
  point: "${point}"${extra}
  target: { type: nbd, url: "nbd://127.0.0.1:10809/disk-{key}" }
`;

describe('loadPlanForRun', () => {
  it('stops at a missing environment variable, naming it and where it is used', async () => {
    const file = await planFile(RESTORE('latest'));
    const error = await loadPlanForRun(file, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendenseError);
    expect((error as SendenseError).exitCode).toBe(2);
    expect((error as SendenseError).describe()).toBe(
      `${file}:6:9: repository.path: environment variable REPO is not set`,
    );
  });

  it('substitutes ${VAR}, keeps $${VAR} literal, and lists the variables used', async () => {
    const file = await planFile(
      RESTORE('latest').replace('name: r', () => 'name: r\ndescription: "costs $${HOME} at ${REPO}"'),
    );
    const plan = (await loadPlanForRun(file, { REPO: '/srv/backup' })) as RestorePlan;
    expect(plan.repository.path).toBe('/srv/backup/repository');
    expect(plan.description).toBe('costs ${HOME} at /srv/backup');
    expect(plan.envRefs).toEqual(['REPO']);
  });

  it('checks a substituted value like a literal one', async () => {
    const file = await planFile(RESTORE('latest'));
    await expect(loadPlanForRun(file, { REPO: 'relative' })).rejects.toThrow(
      "repository.path: must be an absolute path or start with ~/ (got 'relative/repository')",
    );
  });

  it('reads restore points: latest, a backup id, an ISO time', async () => {
    const env = { REPO: '/r' };
    const points = [];
    for (const point of ['latest', '20250131T020000Z-ab12', '2025-01-31T02:00:00Z', '2025-01-31T03:00:00+01:00']) {
      const plan = await loadPlanForRun(await planFile(RESTORE(point, '\n  disks: [2000]')), env);
      points.push(plan.kind === 'restore' ? plan.restore.point : undefined);
    }
    expect(points).toEqual([
      { type: 'latest' },
      { type: 'id', id: '20250131T020000Z-ab12' },
      { type: 'time', time: new Date('2025-01-31T02:00:00Z') },
      { type: 'time', time: new Date('2025-01-31T02:00:00Z') },
    ]);
  });

  it('rejects a point that is neither', async () => {
    const file = await planFile(RESTORE('last week'));
    await expect(loadPlanForRun(file, { REPO: '/r' })).rejects.toThrow(
      "restore.point: must be latest, a backup id or an ISO-8601 time like 2025-01-31T02:00:00Z (got 'last week')",
    );
  });
});

describe('loadPlanFile', () => {
  it('fills in the defaults of docs/plan-reference.md', async () => {
    const file = await planFile(`version: 1
kind: backup
name: defaults
vm:
  name: vm1
  source:
    type: vmware
    endpoint: vc
    username: u
    passwordFile: ~/vc.pass
    path: /DC/vm/vm1
    client: sendense-backup-client
    disks: [{ key: 2000 }]
node: { host: h, user: u }
repository: { path: /r }
hooks:
  before: [{ run: "true" }]
`);
    const { plan, errors, warnings } = await loadPlanFile(file, { resolveEnv: false, env: {} });
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(plan).toMatchObject({
      catchUp: 'none',
      nbd: { ports: { first: 10100, last: 10200 }, shared: 10 },
      incremental: { onMissingChain: 'full', maxChainLength: 30 },
      node: { port: 22, knownHosts: path.join(os.homedir(), '.ssh/known_hosts') },
      hooks: { before: [{ run: 'true', on: 'hub' }], after: [], onFailure: [], always: [] },
      timeouts: { transfer: undefined },
      vm: {
        source: {
          clientPath: '/usr/local/bin/sendense-backup-client',
          passwordFile: path.join(os.homedir(), 'vc.pass'),
        },
      },
    });
  });

  it('a vmware plan written for the old client (clientPath, no client) keeps it; clientPath with client sendense-run is refused', async () => {
    const text = (client: string) => `version: 1
kind: backup
name: old-client
vm:
  name: vm1
  source:
    type: vmware
    endpoint: vc
    username: u
    passwordFile: /vc.pass
    path: /DC/vm/vm1
    clientPath: /usr/local/bin/sendense-backup-client${client}
    disks: [{ key: 2000 }]
node: { host: h, user: u }
repository: { path: /r }
`;
    const old = await loadPlanFile(await planFile(text('')), { resolveEnv: false, env: {} });
    expect(old.errors).toEqual([]);
    expect(old.plan).toMatchObject({ vm: { source: { type: 'vmware', client: 'sendense-backup-client' } } });
    const both = await loadPlanFile(await planFile(text('\n    client: sendense-run')), { resolveEnv: false, env: {} });
    expect(both.errors.map((error) => error.message)).toEqual([
      expect.stringContaining('vm.source.clientPath is for the old client'),
    ]);
  });

  it('an empty file says how a plan starts', async () => {
    const file = await planFile('# nothing yet\n');
    const { errors } = await loadPlanFile(file, { resolveEnv: false });
    expect(errors.map((error) => error.message)).toEqual(['the file is empty; a plan starts with version: 1']);
  });
});
