// Claims the docs make about the code, checked against it (issue 57 found three false ones): the
// transfer's cap on unanswered writes (runners/README.md) and where the engine names a plan kind
// (docs/how-it-works.md#plan-kinds).

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../../runners/transfer/copy-disk.js';

describe('claims of the docs', () => {
  it('runners/README.md names the default requests in flight and the cap on unanswered writes per disk', () => {
    const readme = readFileSync('runners/README.md', 'utf8');
    const { inFlight, unansweredWrites } = DEFAULT_TUNING;
    expect(readme).toContain(`[--in-flight ${inFlight}]`);
    // transfer-disks.ts caps a disk's unanswered WRITEs at twice --in-flight; DEFAULT_TUNING says the same.
    expect(unansweredWrites).toBe(2 * inFlight);
    expect(readme).toContain(
      `fewer than twice \`--in-flight\` WRITEs of its disk are unanswered (${unansweredWrites} at the default ${inFlight})`,
    );
    expect(readme).not.toMatch(/up to \d+ unanswered per disk/);
  });

  it('nothing outside src/kinds tells plan kinds apart: one-kind commands ask for a capability by name', () => {
    const kinds = readdirSync('src/kinds', { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(kinds).toEqual(expect.arrayContaining(['backup', 'restore', 'replicate']));
    const names = `'(${[...kinds, 'incremental'].join('|')})'`;
    // kind === 'backup', 'backup' !== plan.kind, case 'backup':, ['backup', …].includes(plan.kind).
    const comparisons = [
      new RegExp(`(kind|Kind|'kind'\\)) *[!=]==? *${names}`),
      new RegExp(`${names} *[!=]==? *[\\w.]*[kK]ind\\b`),
      new RegExp(`case ${names}:`),
      /\.includes\([\w.]*plan\.kind\)/,
    ];
    const comparing = (readdirSync('src', { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && !file.startsWith('kinds/'))
      .flatMap((file) =>
        readFileSync(path.join('src', file), 'utf8')
          .split('\n')
          .flatMap((line, at) =>
            comparisons.some((comparison) => comparison.test(line)) ? [`${file}:${at + 1}`] : [],
          ),
      );
    expect(comparing).toEqual([]);
    expect(readFileSync('docs/how-it-works.md', 'utf8').replace(/\s+/g, ' ')).toContain(
      "Nothing outside `src/kinds` tells kinds apart. A command made for one kind's plans asks the plan's kind for a capability by name (`capabilities` in the definition, `planCapability` in `src/kinds/index.ts`) and refuses a plan whose kind offers none",
    );
  });

  it('nothing outside src/copy/targets tells copy targets apart: each type checks and offers what it has by name', () => {
    const types = readdirSync('src/copy/targets')
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, ''));
    expect(types).toEqual(expect.arrayContaining(['ssh', 's3', 'dir']));
    const names = "'(ssh|s3|dir)'";
    // to.type === 's3', 'dir' !== type, case 's3':, 's3' in facts, facts.s3.
    const comparisons = [
      new RegExp(`(type|Type|'type'\\)) *[!=]==? *${names}`),
      new RegExp(`${names} *[!=]==? *[\\w.]*[tT]ype\\b`),
      new RegExp(`case ${names}:`),
      new RegExp(`${names} in `),
      /facts\.s3\b/,
    ];
    const comparing = (readdirSync('src', { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && !file.startsWith('copy/targets/') && !file.startsWith('copy/s3/'))
      .flatMap((file) =>
        readFileSync(path.join('src', file), 'utf8')
          .split('\n')
          .flatMap((line, at) =>
            comparisons.some((comparison) => comparison.test(line)) ? [`${file}:${at + 1}`] : [],
          ),
      );
    expect(comparing).toEqual([]);
  });
});
