// The fenced code blocks of the operator docs, with the `<!-- docs-test: ... -->` marker that
// precedes a block (if any): how test/docs/code-blocks.test.ts checks it.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface DocBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  readonly text: string;
  /** The marker's words, e.g. `fragment`, `env VCENTER_PASSWORD=x`, `invalid: message`; undefined without one. */
  readonly marker: string | undefined;
}

// README.md and every Markdown file under docs/.
export function docFiles(): string[] {
  const docs = (readdirSync('docs', { recursive: true }) as string[])
    .filter((file) => file.endsWith('.md'))
    .map((file) => path.join('docs', file));
  return ['README.md', ...docs.sort()];
}

export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    let before = start - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? /^<!-- docs-test: (.*?) -->$/.exec(lines[before].trim())?.[1] : undefined;
    blocks.push({ file, line: start + 1, lang: open[1], text: body.join('\n'), marker });
  }
  return blocks;
}

// The `sendense-run ...` commands of a shell block, as argument lists (quotes removed, comments,
// pipes and `&&` chains split off); `npx sendense-run` and `node bin/sendense-run.js` count too.
export function sendenseCommands(shell: string): string[][] {
  const commands: string[][] = [];
  const joined = shell.replace(/\\\n/g, ' ');
  for (const rawLine of joined.split('\n')) {
    const words = shellWords(rawLine.replace(/^\s*\$ /, ''));
    let current: string[] = [];
    const segments: string[][] = [];
    for (const word of words) {
      if (word === '&&' || word === '||' || word === ';' || word === '|') {
        segments.push(current);
        current = [];
      } else current.push(word);
    }
    segments.push(current);
    for (const segment of segments) {
      let at = 0;
      for (;;) {
        if (segment[at] === 'sudo') {
          at++;
          while (segment[at]?.startsWith('-')) at += segment[at] === '-u' || segment[at] === '-g' ? 2 : 1;
        } else if (segment[at] === 'npx' || /^[A-Z_]+=/.test(segment[at] ?? '')) at++;
        else break;
      }
      if (segment[at] === 'sendense-run') commands.push(segment.slice(at + 1));
      else if (segment[at] === 'node' && segment[at + 1] === 'bin/sendense-run.js')
        commands.push(segment.slice(at + 2));
    }
  }
  return commands;
}

// A small POSIX-ish word splitter: quotes, backslashes, `#` comments, and the operators above.
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      word = (word ?? '') + line.slice(i + 1, end === -1 ? undefined : end);
      i = end === -1 ? line.length : end;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break;
    } else if (c === ';' || c === '|' || c === '&') {
      if (word !== undefined) words.push(word);
      word = undefined;
      const two = line.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        words.push(two);
        i++;
      } else words.push(c);
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}
