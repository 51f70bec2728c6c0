// CI's queue of test files (scripts/test-times.js queue/next, .ci/run): every file vitest would run
// is taken exactly once, by a line allowed to run it, even when the lines take chunks at once.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPT = path.resolve('scripts/test-times.js');
const dir = mkdtempSync(path.join(tmpdir(), 'sendense-test-queue-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every test file under src, runners and test, as vitest.config.ts includes them.
function allTestFiles(): string[] {
  return ['src', 'runners', 'test']
    .flatMap((root) =>
      (readdirSync(root, { recursive: true }) as string[]).map((file) => `${root}/${file.split(path.sep).join('/')}`),
    )
    .filter((file) => file.endsWith('.test.ts'))
    .sort();
}

// Line `line` takes chunks until none is left; what it took, in order.
async function drain(queue: string, line: number): Promise<string[][]> {
  const taken: string[][] = [];
  for (;;) {
    const { stdout } = await run(process.execPath, [SCRIPT, 'next', queue, String(line)]);
    if (stdout.trim() === '') return taken;
    taken.push(stdout.trim().split(' '));
  }
}

describe('the CI test queue', () => {
  it('three lines taking at once get every test file once, the package tests on the first line only', async () => {
    const queue = path.join(dir, 'queue');
    await run(process.execPath, [SCRIPT, 'queue', queue, '3']);
    const byLine = await Promise.all([0, 1, 2].map((line) => drain(queue, line)));
    const files = byLine.flat(2);
    expect([...files].sort()).toEqual(allTestFiles());
    expect(new Set(files).size).toBe(files.length);
    expect(
      byLine[1]!
        .flat()
        .concat(byLine[2]!.flat())
        .filter((file) => file.startsWith('test/packaging/')),
    ).toEqual([]);
    expect(byLine[0]!.flat()).not.toContain('test/cli/compile-cache.test.ts');
    // The longest file comes first, alone: the lines do not end waiting on it.
    expect(readdirSync(queue).find((name) => name.startsWith('0000.'))).toMatch(/\.any\.chunk\.line[0-2]$/);
  });
});
