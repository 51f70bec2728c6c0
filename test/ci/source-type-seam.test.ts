// A type of backup source is one module of src/source and a line in its SOURCE_TYPES
// (src/source/source-types.ts): nothing outside src/source compares a source's type; it asks the
// source for a capability by name (sourceCan) or its definition (sourceDefinitionOf).

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const TYPES = readdirSync('src/source')
  .map((file) => /^(\w+)-definition\.ts$/.exec(file)?.[1])
  .filter((type): type is string => type !== undefined && type !== 'source');

// source.type === 'qemu', plan.vm.source.type !== 'libvirt', sourceType === 'qemu',
// stringAt(data, 'vm', 'source', 'type') === 'vmware', 'nbd' === source.type, a type passed as a literal.
function comparisons(types: readonly string[]): RegExp[] {
  const names = `'(${types.join('|')})'`;
  return [
    new RegExp(`([sS]ource(\\.\\w+)*\\.type|[sS]ourceType|'source', 'type'\\)) *[!=]==? *${names}`),
    new RegExp(`${names} *[!=]==? *[\\w.]*([sS]ource\\.type|[sS]ourceType)\\b`),
    new RegExp(`case ${names}:.*source`, 'i'),
    new RegExp(`replicaDomain\\([^)]*${names}`),
  ];
}

function comparingLines(files: readonly string[], read: (file: string) => string): string[] {
  const patterns = comparisons(TYPES);
  return files
    .filter((file) => !file.startsWith('source/'))
    .flatMap((file) =>
      read(file)
        .split('\n')
        .flatMap((line, index) =>
          !/^\s*(\/\/|\*)/.test(line) && patterns.some((pattern) => pattern.test(line))
            ? [`src/${file}:${index + 1}: ${line.trim()}`]
            : [],
        ),
    );
}

describe('source types', () => {
  it('every shipped source type has its definition module', () => {
    expect(TYPES.sort()).toEqual(['libvirt', 'nbd', 'qemu', 'vmware']);
  });

  it('nothing outside src/source compares a source type: it asks a capability by name', () => {
    const files = (readdirSync('src', { recursive: true }) as string[])
      .map((file) => file.split(path.sep).join('/'))
      .filter((file) => file.endsWith('.ts'));
    expect(comparingLines(files, (file) => readFileSync(path.join('src', file), 'utf8'))).toEqual([]);
  });

  it('the check sees the ways a type is compared, and not a restore target or a source file', () => {
    const text = [
      "if (source.type === 'libvirt') return;",
      "if (plan.vm.source.type !== 'qemu')",
      "if (sourceType === 'qemu') bitmaps();",
      "if (stringAt(data, 'vm', 'source', 'type') === 'vmware') {",
      "const qemu = 'qemu' === source.type;",
      "const domain = replicaDomain(replica, name, 'libvirt');",
      "if (target.type === 'nbd') return url;",
      "// source.type === 'qemu' in a comment",
    ].join('\n');
    expect(comparingLines(['plan/new-file.ts'], () => text).map((hit) => hit.split(':')[1])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
    expect(comparingLines(['source/new-file.ts'], () => text)).toEqual([]);
  });
});
