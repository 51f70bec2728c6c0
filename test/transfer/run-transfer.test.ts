// runTransfer and a cancel: a Ctrl+C that arrives while the transfer command is being prepared
// (an SSH node installing the runner) must stop the run, not let the transfer run to the end.

import { afterEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { createLocalNode } from '../../src/node/local.js';
import type { NodeHost, NodeProcess } from '../../src/node/node.js';
import { runTransfer } from '../../src/transfer/run-transfer.js';
import { NotedProcesses } from '../support/processes.js';

const reporter = { emit: () => {}, close: async () => {} };
const spawned: NodeProcess[] = [];
const noted = new NotedProcesses();

afterEach(() => {
  spawned.splice(0);
  noted.killAll();
});

describe('runTransfer', () => {
  it('a cancel while the transfer command is prepared starts no transfer and fails at once', async () => {
    const controller = new AbortController();
    const local = createLocalNode();
    const node: NodeHost = {
      ...local,
      // The cancel lands while this is awaited (like an install over SSH); then a long "transfer".
      transferCommand: async () => {
        controller.abort(new SendenseError('interrupted by SIGINT', { exitCode: 130 }));
        return ['sleep', '3600'];
      },
      spawn: (argv, options) => {
        const child = local.spawn(argv, options);
        spawned.push(child);
        noted.add(child.pid);
        return child;
      },
    };
    const program = {
      kind: 'node-transfer',
      request: {
        disks: [
          {
            key: 2000,
            source: { kind: 'nbd', url: 'nbd://127.0.0.1:1/x' },
            target: { kind: 'nbd', url: 'nbd://127.0.0.1:2/y' },
          },
        ],
      },
    } as const;
    await expect(runTransfer({ node, program, reporter, signal: controller.signal, step: 'transfer' })).rejects.toThrow(
      'interrupted by SIGINT',
    );
    expect(spawned).toHaveLength(0);
  });
});
