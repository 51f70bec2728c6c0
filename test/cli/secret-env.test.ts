// A secret a plan takes from the environment (`${WEBHOOK_TOKEN}` in a hook) reaches the hook but
// never a command line, the run's output (plain or --json), its recorded error, or --dry-run.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const TOKEN = 'tok-3f9a7c1e-do-not-print';
const [first, last] = portRangeForTestFile();
let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cli-secret-env-'));
  db = path.join(dir, 'state.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// A backup plan whose before hook records what it saw, then fails or not.
function planWithHook(fail: boolean): string {
  const disk = createDisk(path.join(dir, 'disk0.qcow2'), 8 * 1024 * 1024);
  const seen = path.join(dir, 'seen');
  const command = `printf %s "\${WEBHOOK_TOKEN}" > ${seen}.token; tr '\\0' ' ' < /proc/$$/cmdline > ${seen}.cmdline; ${fail ? 'exit 3' : 'true'}`;
  const plan = {
    version: 1,
    kind: 'backup',
    name: 'secret-hook',
    vm: { name: 'secret-vm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
    repository: { path: path.join(dir, 'repo') },
    nbd: { ports: `${first}-${last}` },
    hooks: { before: [{ run: command }], onFailure: [{ run: 'echo "failed with token ${WEBHOOK_TOKEN}" >/dev/null; exit 1' }] },
  };
  const file = path.join(dir, 'plan.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

describe('an environment secret used by a hook', () => {
  for (const fail of [false, true]) {
    it(`reaches the hook's environment but no output, argv or history (hook ${fail ? 'fails' : 'succeeds'})`, async () => {
      const plan = planWithHook(fail);
      const env = { WEBHOOK_TOKEN: TOKEN };

      const plain = await sendenseRun([plan, '--db', db], env);
      const json = await sendenseRun([plan, '--db', db, '--json'], env);
      const dry = await sendenseRun([plan, '--db', db, '--dry-run'], env);
      const history = await sendenseRun(['history', '--db', db, '--json']);

      expect([plain.exitCode, json.exitCode, dry.exitCode]).toEqual(fail ? [1, 1, 0] : [0, 0, 0]);
      expect(readFileSync(path.join(dir, 'seen.token'), 'utf8')).toBe(TOKEN);
      expect(readFileSync(path.join(dir, 'seen.cmdline'), 'utf8')).toContain('${WEBHOOK_TOKEN}');
      for (const text of [plain.stdout, plain.stderr, json.stdout, json.stderr, dry.stdout, dry.stderr, history.stdout, readFileSync(path.join(dir, 'seen.cmdline'), 'utf8')]) {
        expect(text).not.toContain(TOKEN);
      }
      if (fail) expect(plain.stderr).toContain("before hook 'printf %s \"${WEBHOOK_TOKEN}\"");
    });
  }

  it('a missing variable is still one error naming it, before anything runs', async () => {
    const plan = planWithHook(false);
    const result = await sendenseRun([plan, '--db', db]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^sendense-run: .*plan\.yaml:\d+:\d+: hooks\.before\[0\]\.run: environment variable WEBHOOK_TOKEN is not set$/);
  });
});
