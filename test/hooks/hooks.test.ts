// Hooks run around a real backup: they receive the run's facts, a failing before hook stops the
// run before anything is taken, and a failing after hook is only a warning.

import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runPlan } from '../../src/engine/run-plan.js';
import type { RunEvent, RunReporter } from '../../src/engine/run-events.js';
import { planDoc, planOf } from '../schedule/test-plans.js';
import { useSandboxStore } from '../support/sandbox-store.js';

function collect(): RunReporter & { events: RunEvent[] } {
  const events: RunEvent[] = [];
  return { events, emit: (event) => events.push(event), close: async () => {} };
}

function envFile(file: string): Record<string, string> {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('SENDENSE_'));
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('hooks', () => {
  const sandbox = useSandboxStore('hooks');

  it('before, after and always hooks (hub and node) receive the run facts in their environment', async () => {
    const { box, store } = sandbox;
    const dump = (name: string) => `env > ${path.join(box.dir, name)}`;
    const plan = planOf(
      planDoc(box, 'hooked', {
        hooks: {
          before: [{ run: dump('before.env') }, { run: 'echo hello from the node', on: 'node' }],
          after: [{ run: dump('after.env'), on: 'node' }],
          onFailure: [{ run: dump('failure.env') }],
          always: [{ run: dump('always.env') }],
        },
      }),
    );
    const reporter = collect();
    const result = await runPlan(plan, { store, reporter, trigger: 'manual' });
    expect(result.status).toBe('succeeded');

    const before = envFile(path.join(box.dir, 'before.env'));
    expect(before).toMatchObject({
      SENDENSE_PLAN: 'hooked',
      SENDENSE_VM: 'vm-hooked',
      SENDENSE_KIND: 'incremental',
      SENDENSE_RUN_ID: result.runId,
      SENDENSE_STATUS: 'running',
    });
    const after = envFile(path.join(box.dir, 'after.env'));
    expect(after).toMatchObject({
      SENDENSE_RUN_ID: result.runId,
      SENDENSE_STATUS: 'succeeded',
      SENDENSE_BACKUP_ID: result.backupId,
    });
    expect(after.SENDENSE_ERROR).toBeUndefined();
    expect(envFile(path.join(box.dir, 'always.env'))).toMatchObject({
      SENDENSE_STATUS: 'succeeded',
      SENDENSE_BACKUP_ID: result.backupId,
    });
    expect(existsSync(path.join(box.dir, 'failure.env'))).toBe(false);
    const infos = reporter.events.flatMap((event) => (event.type === 'info' ? [event.message] : []));
    expect(infos).toContain('  before| hello from the node');
  });

  it('a plan naming its repository key by keyEnv: no hook, on the hub or the node, gets the variable or the key', async () => {
    const { box, store } = sandbox;
    const key = randomBytes(32).toString('base64');
    process.env.HOOK_TEST_REPOSITORY_KEY = key;
    // Also under a name no plan gives: a variable holding a secret this process holds stays out too.
    process.env.HOOK_TEST_COPY_OF_KEY = key;
    onTestFinished(() => {
      delete process.env.HOOK_TEST_REPOSITORY_KEY;
      delete process.env.HOOK_TEST_COPY_OF_KEY;
    });
    const dump = (name: string) => `env > ${path.join(box.dir, name)}`;
    const doc = planDoc(box, 'keyed', {
      hooks: { before: [{ run: dump('hub.env') }], after: [{ run: dump('node.env'), on: 'node' }] },
    });
    const plan = planOf({
      ...doc,
      repository: {
        path: path.join(box.dir, 'encrypted-repository'),
        encryption: { keyEnv: 'HOOK_TEST_REPOSITORY_KEY' },
      },
    });
    const result = await runPlan(plan, { store, reporter: collect(), trigger: 'manual' });
    expect(result.status, result.error?.describe()).toBe('succeeded');
    for (const name of ['hub.env', 'node.env']) {
      const environ = readFileSync(path.join(box.dir, name), 'utf8');
      expect(environ, name).toContain('SENDENSE_RUN_ID=');
      expect(environ, name).not.toContain(key);
      expect(environ, name).not.toMatch(/^HOOK_TEST_(REPOSITORY_KEY|COPY_OF_KEY)=/m);
    }
  });

  it('a failing before hook fails the run with a clear error and nothing taken; onFailure and always get the error', async () => {
    const { box, store } = sandbox;
    const plan = planOf(
      planDoc(box, 'refused', {
        hooks: {
          before: [
            { run: 'echo database not quiesced >&2; exit 3' },
            { run: `touch ${path.join(box.dir, 'second-before')}` },
          ],
          onFailure: [{ run: `env > ${path.join(box.dir, 'failure.env')}` }],
          always: [{ run: `env > ${path.join(box.dir, 'always.env')}` }],
        },
      }),
    );
    const result = await runPlan(plan, { store, reporter: collect(), trigger: 'manual' });
    expect(result.status).toBe('failed');
    expect(result.error?.describe()).toBe(
      "step hooks: before hook 'echo database not quiesced >&2; exit 3' failed (exit code 3: database not quiesced); nothing was taken",
    );
    expect(existsSync(path.join(box.dir, 'second-before'))).toBe(false);
    // Nothing taken: no backup record, no repository files, no leases, no processes.
    expect(await store.listBackups()).toEqual([]);
    expect(existsSync(box.repository) ? readdirSync(box.repository) : []).toEqual([]);
    expect(await store.listLeases()).toEqual([]);
    expect(await store.allProcesses()).toEqual([]);
    const failure = envFile(path.join(box.dir, 'failure.env'));
    expect(failure).toMatchObject({ SENDENSE_STATUS: 'failed', SENDENSE_RUN_ID: result.runId, SENDENSE_BACKUP_ID: '' });
    expect(failure.SENDENSE_ERROR).toContain('database not quiesced');
    expect(envFile(path.join(box.dir, 'always.env')).SENDENSE_STATUS).toBe('failed');
    const [run] = await store.listRuns({ plan: 'refused' });
    expect(run.status).toBe('failed');
    expect(run.error).toContain("before hook 'echo database not quiesced >&2; exit 3' failed");
  });

  it('a failing after hook is a warning: the backup stays complete and the run succeeded', async () => {
    const { box, store } = sandbox;
    const plan = planOf(planDoc(box, 'after-fails', { hooks: { after: [{ run: 'exit 7' }] } }));
    const reporter = collect();
    const result = await runPlan(plan, { store, reporter, trigger: 'manual' });
    expect(result.status).toBe('succeeded');
    expect((await store.getBackup(result.backupId!))?.status).toBe('complete');
    const warnings = reporter.events.flatMap((event) => (event.type === 'warning' ? [event.message] : []));
    expect(warnings).toContain("after hook 'exit 7' failed (exit code 7)");
  });
});
