// verify on a node (docs/how-it-works.md#a-verified-restore): the same one-read check as on this
// host, with the reading and hashing of the restored disk done on the node by the node transfer
// (--check-restored, runners/transfer/check-restored.ts). The hub works out what the point holds
// from its manifests (reading its own chain files where a newer file covers part of a range), sends
// that, offsets and digests only, and gets one line back: so the chain does not cross the tunnel,
// and no repository key goes to the node (the digests are of the plaintext, docs/encryption.md).
//
// Like the check on this host it only ever says "equal"; anything else leaves it to the step's
// full comparison, which words the error.

import { formatBytes } from '../../format/bytes.js';
import {
  CHECK_RESTORED,
  formatRestoredCheckRequest,
  parseRestoredCheckLine,
  type TransferTarget,
} from '../../wire/index.js';
import type { ExecResult } from '../../node/node.js';
import type { RestoreDiskJob, RestoreRun } from './restore-run.js';
import { expectedPoint } from './verify-digests.js';

/** Bytes read (on the node, and of the chain on the hub) when the restored disk is equal to the point; else undefined. */
export async function restoredEqualsDigestsOnNode(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
  return checkOnNode(run, disk).catch(() => undefined);
}

async function checkOnNode(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
  const point = await expectedPoint(run, disk);
  if (point === undefined) return undefined;
  const restored = run.target.restored(disk);
  const image: TransferTarget = restored.image.startsWith('nbd')
    ? { kind: 'nbd', url: restored.image }
    : { kind: 'file', path: restored.image, format: restored.format };
  const request = formatRestoredCheckRequest({ image, size: disk.virtualSize, ...point });
  const answered = new AbortController();
  let result: ExecResult;
  try {
    result = await run.node.exec([...(await run.node.transferCommand()), CHECK_RESTORED], {
      stdin: requestThenLifeline(request, answered.signal),
      signal: run.signal,
    });
  } finally {
    answered.abort();
  }
  const line = parseRestoredCheckLine(result.stdout.trim().split('\n').at(-1) ?? '');
  if (line?.outcome === 'equal') return point.bytesRead + line.bytes;
  const why =
    line === undefined
      ? `no answer (exit status ${result.exitCode}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''})`
      : line.outcome === 'different'
        ? `differs at offset ${line.offset} (${formatBytes(line.bytes)} read)`
        : line.why;
  run.reporter.emit({
    type: 'info',
    step: 'verify',
    message: `disk ${disk.key}: the check on ${run.node.description} did not say equal (${why}): comparing with the chain through the tunnel`,
  });
  return undefined;
}

// The request, then stdin held open until the answer: the node transfer stops its check when stdin
// closes (this process gone, even by kill -9, or the run given up), as its transfers do.
async function* requestThenLifeline(request: string, answered: AbortSignal): AsyncIterable<Uint8Array> {
  yield Buffer.from(request);
  if (!answered.aborted)
    await new Promise<void>((resolve) => answered.addEventListener('abort', () => resolve(), { once: true }));
}
