// A fast-path reader's run is bounded in time (docs/file-level-restore.md): stopped after its
// timeout without a byte of answer (a hung tool), and after 15 timeouts in all (one that drips),
// but a run that answers all along (a batch of many entries, slow on a loaded hub) goes on past
// its timeout. Real processes in the real sandbox (no reader user: run as us, no network).

import { describe, expect, it } from 'vitest';
import { runSandboxed } from '../../src/files/fast/sandbox.js';

const sandbox = { user: undefined };
const run = (script: string, timeoutMs: number) =>
  runSandboxed(['sh', '-c', script], { sandbox, timeoutMs, maxBytes: 1024 * 1024, what: 'sh reading the test' });

describe('a reader run', () => {
  it('answering all along, goes on past its timeout and gives its whole answer', async () => {
    const result = await run('for i in 1 2 3 4 5 6; do echo $i; sleep 0.3; done', 1000);
    expect(result.stdout.toString()).toBe('1\n2\n3\n4\n5\n6\n');
  });

  it('silent past its timeout, is stopped with one line saying so', async () => {
    await expect(run('echo started; exec sleep 30', 500)).rejects.toThrow(
      'sh reading the test: no answer in 0.5 s (stopped)',
    );
  });

  it('dripping an answer for more than 15 timeouts, is stopped', async () => {
    await expect(run('while :; do echo drip; sleep 0.1; done', 1000)).rejects.toThrow(
      'sh reading the test: still answering after 15 s (stopped)',
    );
  });
});
