// The run's last line (docs/json-events.md run-end): bytes moved, their rate and the point made.

import { describe, expect, it } from 'vitest';
import { runEndLine } from '../../src/engine/run-end-text.js';

const end = { type: 'run-end', runId: 'run-1', status: 'succeeded', seconds: 4, disks: [] } as const;

describe('runEndLine', () => {
  it('says the bytes, their rate and the backup made; a failure only its status', () => {
    expect(runEndLine('incremental', { ...end, bytes: 8 * 1024 * 1024, backupId: 'B1' })).toBe(
      'run run-1 succeeded in 4.0 s: 8.0 MiB at 2.0 MiB/s, backup B1',
    );
    expect(runEndLine('restore', { ...end, bytes: 0, backupId: 'B1' })).toBe(
      'run run-1 succeeded in 4.0 s: 0 B, from backup B1',
    );
    expect(runEndLine('replicate', { ...end, bytes: 1024, backupId: 'P1' })).toBe(
      'run run-1 succeeded in 4.0 s: 1.0 KiB at 256 B/s, replica point P1',
    );
    expect(runEndLine('backup', { ...end, status: 'failed', bytes: 5 })).toBe('run run-1 failed in 4.0 s');
  });
});
