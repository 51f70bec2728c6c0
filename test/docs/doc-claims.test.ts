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
    expect(readme).toContain(`fewer than twice \`--in-flight\` WRITEs of its disk are unanswered (${unansweredWrites} at the default ${inFlight})`);
    expect(readme).not.toMatch(/up to \d+ unanswered per disk/);
  });

  it('the engine names a plan kind only where how-it-works.md says: the end line', () => {
    const kinds = readdirSync('src/kinds', { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(kinds).toEqual(expect.arrayContaining(['backup', 'restore', 'replicate']));
    const naming = (readdirSync('src/engine', { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts'))
      .filter((file) => kinds.some((kind) => readFileSync(path.join('src/engine', file), 'utf8').includes(`'${kind}'`)));
    expect(naming).toEqual(['run-end-text.ts']);
    expect(readFileSync('docs/how-it-works.md', 'utf8')).toContain("It names a kind in one place:\nthe run's last line for people (`src/engine/run-end-text.ts`)");
  });
});
