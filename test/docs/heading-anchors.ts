// GitHub's heading anchors of a Markdown file: lowercase, punctuation dropped, spaces to `-`, a
// repeated heading suffixed -1, -2, ... (code blocks skipped). Links and citations are checked with it.

import { readFileSync } from 'node:fs';

export function headingAnchors(file: string): Set<string> {
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
