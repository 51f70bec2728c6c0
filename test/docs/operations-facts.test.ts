// The operations guide names what the code provides: every environment variable hooks get and
// every Prometheus metric a run writes (so a variable or metric added later is written down).

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const guide = readFileSync('docs/operations.md', 'utf8');
const sources = (dir: string) =>
  (readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => readFileSync(path.join(dir, file), 'utf8'))
    .join('\n');

describe('docs/operations.md', () => {
  it('lists every SENDENSE_* variable hooks get (src/hooks/)', () => {
    const names = new Set([...sources('src/hooks').matchAll(/\b(SENDENSE_[A-Z][A-Z_]*)\b/g)].map((match) => match[1]));
    expect(names.size).toBeGreaterThan(5);
    for (const name of names) expect(guide, name).toContain(`| \`${name}\` |`);
  });

  it('lists every metric of the textfile (src/metrics/)', () => {
    const metrics = new Set([...sources('src/metrics').matchAll(/\b(sendense_[a-z_]+)\b/g)].map((match) => match[1]));
    expect(metrics.size).toBeGreaterThan(3);
    for (const metric of metrics) expect(guide, metric).toContain(`\`${metric}`);
  });

  it('names the systemd unit the repository ships', () => {
    expect(guide).toContain('](../examples/sendense-run-schedule.service)');
  });
});
