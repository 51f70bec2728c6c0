// The docs stand on their own: every link from README.md and docs/ stays inside the repository
// and reaches an existing file (and heading), and how-it-works.md names every step a run takes.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allKinds } from '../../src/kinds/index.js';
import { stepNames } from '../../src/kinds/kind.js';
import { docBlocks, docFiles } from './doc-blocks.js';

const ROOT = path.resolve('.');

// GitHub's heading anchors of a Markdown file (outside code blocks).
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = !inCode && /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

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
        expect(anchors(resolved).has(anchor), `${file}: no heading #${anchor} in ${path.relative(ROOT, resolved)}`).toBe(true);
      }
    }
  });

  it('README keeps its two-command quick start first', () => {
    const [first] = docBlocks('README.md');
    expect(first.lang).toBe('sh');
    expect(first.text.split('\n').map((line) => line.split(/\s+#/)[0].trim())).toEqual(['scripts/demo.sh', 'scripts/test.sh']);
  });

  it('how-it-works.md names every step of every kind of run', async () => {
    const text = readFileSync('docs/how-it-works.md', 'utf8');
    for (const step of new Set((await allKinds()).flatMap((kind) => stepNames(kind)))) {
      expect(text, `step ${step}`).toContain(`\`${step}\``);
    }
  });
});
