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

  it('nothing outside src/kinds tells plan kinds apart but the one-kind commands how-it-works.md names', () => {
    const kinds = readdirSync('src/kinds', { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(kinds).toEqual(expect.arrayContaining(['backup', 'restore', 'replicate']));
    const names = [...kinds, 'incremental'].join('|');
    const comparison = new RegExp(`(kind|'kind'\\)) *[!=]==? *'(${names})'|case '(${names})':`);
    const comparing = (readdirSync('src', { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && !file.startsWith('kinds/'))
      .filter((file) => comparison.test(readFileSync(path.join('src', file), 'utf8')))
      .sort();
    expect(comparing).toEqual([
      'cli/failback-command.ts',
      'cli/failover-command.ts',
      'cli/fetch-command.ts',
      'cli/prune-command.ts',
      'cli/retire-command.ts',
      'cli/verify-replicas.ts',
    ]);
    expect(readFileSync('docs/how-it-works.md', 'utf8').replace(/\s+/g, ' ')).toContain(
      "Nothing outside `src/kinds` tells kinds apart but the commands made for one kind's plans, which check they were given one (`failover`, `failback` and `replicas --verify`: a replicate plan; `fetch`: a copy plan's s3 copy; `prune`: a backup plan with keep-* rules; `retire`: a backup plan of a libvirt domain)",
    );
  });
});
