// Editor support outside the checkout: `schema --path` names the installed schema file (absolute,
// so a plan in /etc/sendense/plans can point at it), `schema` prints it; its $id is absolute.

import { readFileSync } from 'node:fs';
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
});
