// Every qemu-img and qemu-io command line is spelled in src/qemu (src/qemu/command-lines.ts and its
// neighbours), typed, so a flag or an argument order is changed in one place: nothing in src,
// runners or console outside src/qemu writes one, as an argv or inside a shell script.

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// 'qemu-img' as a word of an argv (an array element: after `[`, `,` or a line's start, before `,` or `]`); a shell script that runs
// one ("… qemu-img commit … "$2"", `exec qemu-io`, `command -v qemu-img`).
const COMMAND_LINES = [
  /(^\s*|[[(,]\s*)['"`]qemu-(img|io)['"`]\s*([,\]]|$)/,
  /qemu-(img|io)\b[^'"`]*"\$[\w@]/,
  /(\bexec|command -v|[;&|]) +qemu-(img|io)\b/,
];

function sourceFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((file) => /\.(ts|js|cjs|mjs|vue)$/.test(file) && !file.split(path.sep).includes('node_modules'))
    .map((file) => path.join(root, file));
}

// "file:line: text" of each line outside src/qemu that spells a qemu-img or qemu-io command line.
function qemuCommandLinesOutsideQemu(files: readonly string[], read = (file: string) => readFileSync(file, 'utf8')) {
  return files
    .filter((file) => !file.startsWith(`src${path.sep}qemu${path.sep}`))
    .flatMap((file) =>
      read(file)
        .split('\n')
        .map((line, index) => ({ line, at: `${file}:${index + 1}` }))
        .filter(({ line }) => !/^\s*(\/\/|\*|\/\*)/.test(line) && COMMAND_LINES.some((pattern) => pattern.test(line)))
        .map(({ line, at }) => `${at}: ${line.trim()}`),
    );
}

describe('qemu command lines', () => {
  it('no qemu-img or qemu-io command line is spelled outside src/qemu', () => {
    const files = ['src', 'runners', 'console']
      .flatMap(sourceFiles)
      .filter((file) => !file.includes(`${path.sep}dist${path.sep}`));
    expect(files.length).toBeGreaterThan(100);
    expect(qemuCommandLinesOutsideQemu(files)).toEqual([]);
  });

  it('the check sees an argv, a multi-line argv and a shell script, and not a message or a wire value', () => {
    const text = [
      "await exec(['qemu-img', 'info', file]);",
      'const argv = [',
      "  'qemu-io',",
      "  '-r',",
      '];',
      'const script = \'if [ -e "$1" ]; then qemu-img commit -q -- "$2"; fi\';',
      "const tools = 'command -v qemu-img >/dev/null';",
      'const said = `copied with qemu-img convert on ${where}`;',
      "if (copy !== 'qemu-img') throw new Error('the only copy is qemu-img');",
      "const missing = [failed && 'qemu-img'].filter(Boolean);",
      "// qemu-img ['qemu-img', 'map']",
    ].join('\n');
    const found = qemuCommandLinesOutsideQemu(['src/copy/new-file.ts'], () => text).map((hit) => hit.split(':')[1]);
    expect(found).toEqual(['1', '3', '6', '7']);
    expect(qemuCommandLinesOutsideQemu([`src${path.sep}qemu${path.sep}new-file.ts`], () => text)).toEqual([]);
  });
});
