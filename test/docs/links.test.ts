// The docs stand on their own: every link from README.md and docs/ stays inside the repository
// and reaches an existing file (and heading), and how-it-works.md names every step a run takes.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allKinds } from '../../src/kinds/index.js';
import { stepNames } from '../../src/kinds/kind.js';
import { docBlocks, docFiles } from './doc-blocks.js';
import { headingAnchors } from './heading-anchors.js';

const ROOT = path.resolve('.');

function links(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]);
}

describe('links in the docs', () => {
  it.each(docFiles())('%s links only to files and headings inside the repository', (file) => {
    for (const link of links(file)) {
      if (/^(https?|mailto):/.test(link)) continue;
      const [target, anchor] = link.split('#', 2);
      const resolved = target === '' ? path.resolve(file) : path.resolve(path.dirname(file), target);
      expect(path.relative(ROOT, resolved).startsWith('..'), `${file}: ${link} leaves the repository`).toBe(false);
      expect(existsSync(resolved), `${file}: ${link} does not exist`).toBe(true);
      if (anchor !== undefined && resolved.endsWith('.md')) {
        expect(
          headingAnchors(resolved).has(anchor),
          `${file}: no heading #${anchor} in ${path.relative(ROOT, resolved)}`,
        ).toBe(true);
      }
    }
  });

  it('README keeps its two-command quick start first', () => {
    const [first] = docBlocks('README.md');
    expect(first.lang).toBe('sh');
    expect(first.text.split('\n').map((line) => line.split(/\s+#/)[0].trim())).toEqual([
      'scripts/demo.sh',
      'scripts/test.sh',
    ]);
  });

  it('how-it-works.md names every step of every kind of run', async () => {
    const text = readFileSync('docs/how-it-works.md', 'utf8');
    for (const step of new Set((await allKinds()).flatMap((kind) => stepNames(kind)))) {
      expect(text, `step ${step}`).toContain(`\`${step}\``);
    }
  });
});
