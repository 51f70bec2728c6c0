// A new kind is a folder and a line in src/kinds/index.ts (docs/how-it-works.md#plan-kinds): the
// note kind of this folder, registered as that line would, is validated, run and recorded by the
// real CLI with no other file knowing it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerKind } from '../../../src/kinds/index.js';
import { runCli } from '../../plan/run-validate.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { noteFile, noteKind } from './note-kind.js';

describe('a kind from a folder of its own', () => {
  const work = useRunWorkspace('extra-kind-', { per: 'file' });
  let unregister: () => void = () => undefined;
  beforeAll(() => {
    unregister = registerKind(noteKind);
  });
  afterAll(() => unregister());

  const writePlan = (name: string, body: string): string => {
    const file = path.join(work.dir, `${name}.yaml`);
    writeFileSync(file, `version: 1\nkind: note\nname: ${name}\nrepository:\n  path: ${work.repository}\n${body}`);
    return file;
  };

  it('validates a note plan by its schema part and its own check', async () => {
    const good = writePlan('note-good', 'note:\n  text: hello\n');
    expect((await runCli(['validate', good])).exitCode).toBe(0);
    const bad = writePlan('note-bad', 'note:\n  text: "two\\nlines"\n  colour: red\n');
    const refused = await runCli(['validate', bad]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/note\.text: one line only/);
    expect(refused.stdout + refused.stderr).toMatch(/colour/);
    // Its block belongs to it: another kind's plan may not have it.
    const other = path.join(work.dir, 'verify-with-note.yaml');
    writeFileSync(
      other,
      `version: 1\nkind: verify\nname: v\nrepository:\n  path: ${work.repository}\nverify:\n  vm: all\nnote:\n  text: hi\n`,
    );
    expect((await runCli(['validate', other])).exitCode).toBe(2);
  });

  it('runs a note plan and records it in history and status', async () => {
    const plan = writePlan('note-run', 'note:\n  text: hello from a new kind\n');
    const run = await runCli(['--db', work.db, 'run', plan]);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(readFileSync(noteFile(work.repository, 'note-run'), 'utf8')).toBe('hello from a new kind\n');

    const history = await runCli(['--db', work.db, '--json', 'history', '--plan', 'note-run']);
    expect(history.exitCode).toBe(0);
    const runs = history.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind?: string; status?: string; plan?: string });
    expect(runs).toEqual([expect.objectContaining({ plan: 'note-run', kind: 'note', status: 'succeeded' })]);

    const status = await runCli(['--db', work.db, '--json', 'status', plan]);
    expect(status.exitCode).toBe(0);
    const [line] = status.stdout
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as { kind?: string; lastRun?: { status?: string } });
    expect(line).toMatchObject({ kind: 'note', lastRun: { status: 'succeeded' } });
    expect(existsSync(work.db)).toBe(true);
  });
});
