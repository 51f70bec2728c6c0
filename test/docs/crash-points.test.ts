// The crash points (src/crash-points.ts) are the ones docs/testing.md lists, each with the moment it
// stands for, and each is a place in the code: a crash test killed there tests a moment that exists.

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { CRASH_POINTS, type CrashPoint } from '../../src/crash-points.js';

it('docs/testing.md lists every crash point with its moment, and no other', () => {
  const rows = readFileSync('docs/testing.md', 'utf8')
    .split('\n')
    .map((line) => /^\| `([a-z-]+\.[a-z-]+)` +\| (.*?) +\|$/.exec(line))
    .filter((match) => match !== null)
    .map(([, name, moment]) => [name, moment]);
  expect(Object.fromEntries(rows)).toEqual(CRASH_POINTS);
});

it('every crash point is called in src, by its name or its area', () => {
  const source = (readdirSync('src', { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && file !== 'crash-points.ts')
    .map((file) => readFileSync(path.join('src', file), 'utf8'))
    .join('\n');
  const called = (point: CrashPoint) =>
    source.includes(`crashPoint('${point}')`) || source.includes(`crashPoint(\`${point.split('.')[0]}.\${`);
  expect((Object.keys(CRASH_POINTS) as CrashPoint[]).filter((point) => !called(point))).toEqual([]);
});
