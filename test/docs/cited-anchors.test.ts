// Code cites the docs as `docs/FILE.md` or `docs/FILE.md#anchor` (in comments, help and error
// text): each citation in src/, runners/, test/ and scripts/ must reach an existing file and heading.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { headingAnchors } from './heading-anchors.js';

const TREES = ['src', 'runners', 'test', 'scripts'];
const SOURCE = /\.(ts|js|cjs|mjs|sh|pl)$/;
// A citation as written: the file may be a placeholder (docs/NAME-reference.md), which is skipped.
const CITATION = /\bdocs\/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+))?/g;

interface Citation {
  readonly where: string;
  readonly file: string;
  readonly anchor: string | undefined;
}

function citations(): Citation[] {
  const found: Citation[] = [];
  for (const tree of TREES) {
    for (const name of readdirSync(tree, { recursive: true }) as string[]) {
      const file = path.join(tree, name);
      if (!SOURCE.test(name) || file.startsWith(path.join('runners', 'dist'))) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          for (const match of line.matchAll(CITATION)) {
            if (/[A-Z]{2,}/.test(match[1].replace('README', ''))) continue;
            found.push({ where: `${file}:${index + 1}`, file: match[1], anchor: match[2] });
          }
        });
    }
  }
  return found;
}

describe('docs cited in the code', () => {
  it('every docs/FILE.md#anchor names an existing file and heading', () => {
    const all = citations();
    expect(all.length).toBeGreaterThan(100);
    const dead = all.filter(({ file, anchor }) => {
      const doc = path.join('docs', file);
      return !existsSync(doc) || (anchor !== undefined && !headingAnchors(doc).has(anchor));
    });
    expect(
      dead.map(({ where, file, anchor }) => `${where}: docs/${file}${anchor === undefined ? '' : `#${anchor}`}`),
    ).toEqual([]);
  });
});
