// Editor support outside the checkout: `schema --path` names the installed schema file (absolute,
// so a plan in /etc/sendense/plans can point at it), `schema` prints it; its $id is absolute.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../plan/run-validate.js';

describe('schema', () => {
  it('--path is the absolute path of the schema `schema` prints, whose $id is an absolute URL', async () => {
    const where = await runCli(['schema', '--path']);
    expect(where.exitCode).toBe(0);
    const file = where.stdout.trim();
    expect(path.isAbsolute(file)).toBe(true);
    expect(file).toBe(path.resolve('schemas/plan.schema.json'));
    const printed = await runCli(['schema']);
    expect(printed.stdout).toBe(readFileSync(file, 'utf8'));
    expect((JSON.parse(printed.stdout) as { $id: string }).$id).toMatch(/^https:\/\/\S+\.json$/);
  });

  it('a copied example: validate warns that its $schema leads nowhere; --install points it at this installation, and the warning goes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'schema-install-'));
    try {
      const plan = path.join(dir, 'copy.yaml');
      copyFileSync('examples/copy.yaml', plan);
      const before = await runCli(['validate', plan]);
      expect(before.exitCode).toBe(0);
      expect(before.stdout).toContain(
        `${plan}:1:33: warning: $schema: ../schemas/plan.schema.json is not there from this plan`,
      );
      const installed = await runCli(['schema', '--install', plan]);
      expect(installed.exitCode, installed.stderr).toBe(0);
      const lines = readFileSync(plan, 'utf8').split('\n');
      expect(lines[0]).toBe(`# yaml-language-server: $schema=${path.resolve('schemas/plan.schema.json')}`);
      // The rest of the plan is as it was.
      expect(lines.slice(1).join('\n')).toBe(
        readFileSync('examples/copy.yaml', 'utf8').split('\n').slice(1).join('\n'),
      );
      const after = await runCli(['validate', plan]);
      expect(after.stdout).not.toContain('$schema');
      expect((await runCli(['schema', '--install'])).exitCode).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
