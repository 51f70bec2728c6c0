// A secret a plan takes from the environment (`${WEBHOOK_TOKEN}` in a hook) reaches the hook but
// never a command line, the run's output (plain or --json), its recorded error, or --dry-run.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const TOKEN = 'tok-3f9a7c1e-do-not-print';
const [first, last] = portRangeForTestFile();
const ws = useRunWorkspace('cli-secret-env-');

// A backup plan whose before hook records what it saw, then fails or not.
function planWithHook(fail: boolean): string {
  const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
  const seen = path.join(ws.dir, 'seen');
  const command = `printf %s "\${WEBHOOK_TOKEN}" > ${seen}.token; tr '\\0' ' ' < /proc/$$/cmdline > ${seen}.cmdline; ${fail ? 'exit 3' : 'true'}`;
  const plan = {
    version: 1,
    kind: 'backup',
    name: 'secret-hook',
    vm: { name: 'secret-vm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
    repository: { path: path.join(ws.dir, 'repo') },
    nbd: { ports: `${first}-${last}` },
    hooks: {
      before: [{ run: command }],
      onFailure: [{ run: 'echo "failed with token ${WEBHOOK_TOKEN}" >/dev/null; exit 1' }],
    },
  };
  const file = path.join(ws.dir, 'plan.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

describe('an environment secret used by a hook', () => {
  for (const fail of [false, true]) {
    it(`reaches the hook's environment but no output, argv or history (hook ${fail ? 'fails' : 'succeeds'})`, async () => {
      const plan = planWithHook(fail);
      const env = { WEBHOOK_TOKEN: TOKEN };

      const plain = await sendenseRun([plan, '--db', ws.db], env);
      const json = await sendenseRun([plan, '--db', ws.db, '--json'], env);
      const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run'], env);
      const history = await sendenseRun(['history', '--db', ws.db, '--json']);

      expect([plain.exitCode, json.exitCode, dry.exitCode]).toEqual(fail ? [1, 1, 0] : [0, 0, 0]);
      expect(readFileSync(path.join(ws.dir, 'seen.token'), 'utf8')).toBe(TOKEN);
      expect(readFileSync(path.join(ws.dir, 'seen.cmdline'), 'utf8')).toContain('${WEBHOOK_TOKEN}');
      for (const text of [
        plain.stdout,
        plain.stderr,
        json.stdout,
        json.stderr,
        dry.stdout,
        dry.stderr,
        history.stdout,
        readFileSync(path.join(ws.dir, 'seen.cmdline'), 'utf8'),
      ]) {
        expect(text).not.toContain(TOKEN);
      }
      if (fail) expect(plain.stderr).toContain('before hook \'printf %s "${WEBHOOK_TOKEN}"');
    });
  }

  it('a missing variable is still one error naming it, before anything runs', async () => {
    const plan = planWithHook(false);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /^sendense-run: .*plan\.yaml:\d+:\d+: hooks\.before\[0\]\.run: environment variable WEBHOOK_TOKEN is not set$/,
    );
  });
});
