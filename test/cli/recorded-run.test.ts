// withRecordedRun: the run a command (prune, verify, catalog import) records its work as ends
// succeeded, failed or interrupted as the work did, and a signal stops only a command that asked.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.js';
import { withRecordedRun, type RecordedRun } from '../../src/cli/recorded-run.js';
import { openStore, type Store } from '../../src/store/index.js';

let dir: string;
let store: Store;
let stderr: PassThrough;
let cli: CliContext;
const record = { plan: 'verify', kind: 'verify', trigger: 'manual' } as const;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sendense-recorded-run-'));
  store = await openStore(join(dir, 'state.db'));
  stderr = new PassThrough();
  cli = {
    stdout: new PassThrough(),
    stderr,
    dbPath: join(dir, 'state.db'),
    json: false,
    quiet: true,
  } as unknown as CliContext;
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

// The run the work was given, and how withRecordedRun ended.
async function recorded(options: Parameters<typeof withRecordedRun>[2], work: (run: RecordedRun) => Promise<unknown>) {
  let id = '';
  const ended = await withRecordedRun(cli, store, options, async (run) => {
    id = run.id;
    await work(run);
  }).then(
    (exitCode) => ({ exitCode, error: undefined as unknown }),
    (error: unknown) => ({ exitCode: undefined, error }),
  );
  return { ...ended, run: await store.getRun(id) };
}

describe('withRecordedRun', () => {
  it('work that returns leaves its run succeeded, exit 0', async () => {
    const { exitCode, run } = await recorded({ record }, async () => {});
    expect(exitCode).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', kind: 'verify' });
  });

  it('work that says why it failed leaves its run failed with that, exit 1', async () => {
    let id = '';
    const exitCode = await withRecordedRun(cli, store, { record }, async (run) => {
      id = run.id;
      return { failed: '1 backup damaged' };
    });
    expect(exitCode).toBe(1);
    expect(await store.getRun(id)).toMatchObject({ status: 'failed', error: '1 backup damaged' });
  });

  it('work that throws leaves its run failed with the message, and the error goes on', async () => {
    const boom = new Error('the repository went away');
    const { error, run } = await recorded({ record }, () => Promise.reject(boom));
    expect(error).toBe(boom);
    expect(run).toMatchObject({ status: 'failed', error: 'the repository went away' });
  });

  it('SIGINT stops work that asked for it: its run ends interrupted, exit 130, and the handler is gone after', async () => {
    const before = process.listenerCount('SIGINT');
    const { error, run } = await recorded(
      { record, stopOnSignal: { note: 'stopping after the step under way' } },
      async (work) => {
        expect(process.listenerCount('SIGINT')).toBe(before + 1);
        process.emit('SIGINT', 'SIGINT');
        expect(work.signal.aborted).toBe(true);
        throw work.signal.reason;
      },
    );
    expect(error).toMatchObject({ exitCode: 130, message: 'interrupted by SIGINT' });
    expect(run).toMatchObject({ status: 'interrupted' });
    expect(String(stderr.read())).toContain('sendense-run: SIGINT received: stopping after the step under way\n');
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('work that did not ask for signals registers no handler', async () => {
    const before = process.listenerCount('SIGTERM');
    await recorded({ record }, async () => expect(process.listenerCount('SIGTERM')).toBe(before));
  });

  it('what the run held is given back after its end is recorded', async () => {
    const order: string[] = [];
    const { run } = await recorded({ record }, async (work) => {
      work.releaseAtEnd(async () => order.push(`released after ${(await store.getRun(work.id))?.status}`));
    });
    expect(run?.status).toBe('succeeded');
    expect(order).toEqual(['released after succeeded']);
  });
});
