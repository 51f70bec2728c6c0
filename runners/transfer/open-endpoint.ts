// Opens the NBD connections of one side of a disk: for qemu:/file: endpoints it first starts
// the transfer's own qemu-nbd. Connection 0 is the control connection (block status).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SendenseError } from '../../src/errors.js';
import {
  BASE_ALLOCATION,
  DIRTY_BITMAP_PREFIX,
  NbdConnection,
  describeNbdAddress,
  parseNbdUrl,
  type NbdAddress,
} from '../../src/nbd/index.js';
import type { UndoStack } from '../../src/engine/undo-stack.js';
import { bitmapProblem } from '../../src/qemu/bitmap-health.js';
import { imageInfoWith, type ImageInfo } from '../../src/qemu/image-info.js';
import { startQemuNbd } from '../../src/qemu/qemu-nbd.js';
import type { TransferImageFormat, TransferSource, TransferTarget } from '../../src/wire/index.js';
import { runCommand } from './run-command.js';
import type { TransferOutput } from './transfer-output.js';

export interface EndpointContext {
  readonly disk: number;
  readonly role: 'source' | 'target';
  /** An incremental's bitmap: the source is read through it, the target is asked for base:allocation. */
  readonly bitmap?: string;
  readonly connections: number;
  readonly dir: string;
  /** What the disk's copy took, given back when it ends (every entry 'always'). */
  readonly cleanup: UndoStack;
  readonly output: TransferOutput;
}

// Extra connections must not hang on a server that takes no more clients.
const EXTRA_HANDSHAKE_TIMEOUT_MS = 2000;
const QEMU_NBD_READY_TIMEOUT_MS = 15_000;
const QEMU_NBD_STOP_GRACE_MS = 3000;

export async function openEndpoint(
  endpoint: Exclude<TransferSource, { kind: 'vsphere' }> | TransferTarget,
  context: EndpointContext,
): Promise<NbdConnection[]> {
  // An incremental's target too: its backing chain is the parent point, whose data a shrink can leave stale (unseen-zeroes.ts).
  const metaContexts =
    context.role === 'source'
      ? [BASE_ALLOCATION, ...(context.bitmap === undefined ? [] : [DIRTY_BITMAP_PREFIX + context.bitmap])]
      : context.bitmap === undefined
        ? []
        : [BASE_ALLOCATION];
  let first: NbdConnection;
  let address: NbdAddress;
  let extras: Promise<PromiseSettledResult<NbdConnection>[]> | undefined;
  if (endpoint.kind === 'nbd') {
    // Checked when the request was read (src/wire/transfer-request.ts).
    address = parseNbdUrl(endpoint.url);
    // The extra connections start once the server has greeted the first (so they never take the
    // slot it waits for): over TCP each handshake stalls ~40 ms at qemu-nbd's NBD_OPT_GO reply (its
    // second write waits for our delayed ACK), and one after another that was paid twice per disk.
    const extraAddress = address;
    const startExtras = (): void => void (extras ??= openExtras(extraAddress, context.connections - 1));
    first = await NbdConnection.connect(address, { metaContexts, onGreeting: startExtras }).catch((error: unknown) => {
      void extras?.then(closeAll);
      throw context.role === 'source' ? withPersistentHint(error, context.disk) : error;
    });
    giveBack(context, `NBD connection to ${endpoint.url}`, () => first.close());
  } else {
    const readOnly = context.role === 'source';
    let checked: Promise<TransferImageFormat>;
    if (endpoint.kind === 'qemu') {
      const { path, format: named } = endpoint;
      checked = sourceInfo(path, context.disk, named).then((info) => {
        const format = named ?? servedFormat(info, path, context.disk);
        if (context.bitmap !== undefined) {
          if (format !== 'qcow2')
            throw new SendenseError(
              `${path} is a ${format} image: it has no bitmaps, so only a full backup is possible`,
              { disk: context.disk },
            );
          checkBitmap(info, path, context.bitmap, context.disk);
        }
        return format;
      });
    } else {
      if (!existsSync(endpoint.path))
        throw new SendenseError(`target image ${endpoint.path} does not exist`, { disk: context.disk });
      checked = Promise.resolve(endpoint.format);
    }
    // With the format named (the hub passes the plan's), qemu-nbd starts while the image is
    // checked: both only read it, and nothing is copied before the check passed. Probed, the
    // format comes first.
    const format = endpoint.format ?? (await checked);
    const socket = join(context.dir, `qemu-nbd-${context.disk}-${context.role}.sock`);
    const starting = startQemuNbd({
      file: endpoint.path,
      format,
      socket,
      exportName: 'disk',
      shared: context.connections,
      readOnly,
      bitmap: readOnly ? context.bitmap : undefined,
      // Writable: let WRITE_ZEROES punch holes so restored files stay sparse.
      discard: readOnly ? undefined : 'unmap',
      // Not persistent: it exits after its last client; and it dies with the transfer, so a
      // transfer killed outright before its first connection leaves none behind either.
      persistent: false,
      diesWithUs: true,
      readyTimeoutMs: QEMU_NBD_READY_TIMEOUT_MS,
    });
    const [check, start] = await Promise.allSettled([checked, starting]);
    if (check.status === 'rejected') {
      // The check's error says why (a missing bitmap, a raw image), whatever qemu-nbd made of it.
      if (start.status === 'fulfilled') await start.value.stop(QEMU_NBD_STOP_GRACE_MS);
      throw check.reason;
    }
    if (start.status === 'rejected') throw start.reason;
    const server = start.value;
    giveBack(context, `qemu-nbd ${server.pid}`, async () => {
      await server.stop(QEMU_NBD_STOP_GRACE_MS);
      context.output.debug({ disk: context.disk, message: 'qemu-nbd stopped', pid: server.pid });
    });
    context.output.debug({
      disk: context.disk,
      message: 'qemu-nbd started',
      pid: server.pid,
      role: context.role,
      path: endpoint.path,
    });
    address = Object.freeze({ kind: 'unix', socketPath: socket, exportName: 'disk' });
    // Kept open to the end: a qemu-nbd that is not persistent exits after its last client.
    first = await NbdConnection.connect(address, { metaContexts });
    giveBack(context, `NBD connection to ${describeNbdAddress(address)}`, () => first.close());
  }
  const connections = [first];
  for (const extra of await (extras ?? openExtras(address, context.connections - 1))) {
    if (extra.status !== 'fulfilled') continue;
    connections.push(extra.value);
    giveBack(context, `NBD connection to ${extra.value.where}`, () => extra.value.close());
  }
  if (
    context.bitmap !== undefined &&
    context.role === 'source' &&
    !first.hasMetaContext(DIRTY_BITMAP_PREFIX + context.bitmap)
  ) {
    throw new SendenseError(
      `bitmap '${context.bitmap}' not offered by ${first.where} (no ${DIRTY_BITMAP_PREFIX}${context.bitmap} context)`,
      { disk: context.disk },
    );
  }
  if (context.role === 'target' && first.readOnly)
    throw new SendenseError(`target ${first.where} is read-only`, { disk: context.disk });
  return connections;
}

// A server that takes no more clients leaves an extra unanswered: it gives up after a while.
function openExtras(address: NbdAddress, count: number): Promise<PromiseSettledResult<NbdConnection>[]> {
  return Promise.allSettled(
    Array.from({ length: count }, () =>
      NbdConnection.connect(address, { handshakeTimeoutMs: EXTRA_HANDSHAKE_TIMEOUT_MS }),
    ),
  );
}

function closeAll(settled: readonly PromiseSettledResult<NbdConnection>[]): void {
  for (const extra of settled) if (extra.status === 'fulfilled') void extra.value.close().catch(() => {});
}

// The hub opened the source moments ago (its size): a refused connection now is most often a
// qemu-nbd without -t, which exits after its first client.
function withPersistentHint(error: unknown, disk: number): unknown {
  if (!(error instanceof SendenseError) || !/ECONNREFUSED|ENOENT/.test(error.message)) return error;
  return new SendenseError(
    `${error.message} (a qemu-nbd serving it needs -t/--persistent: without it, it exits after its first client)`,
    { disk, cause: error },
  );
}

// What the transfer needs to know of a qemu: source before serving it (-U: a shared lock is enough).
async function sourceInfo(path: string, disk: number, format: TransferImageFormat | undefined): Promise<ImageInfo> {
  if (!existsSync(path)) throw new SendenseError(`source image ${path} does not exist`, { disk });
  return imageInfoWith(runCommand, path, { forceShare: true, format });
}

// A probed format the transfer can serve; the hub names the format, so this is for a hand-written command line.
function servedFormat(info: ImageInfo, path: string, disk: number): TransferImageFormat {
  if (info.format === 'qcow2' || info.format === 'raw') return info.format;
  throw new SendenseError(`${path} is a ${info.format} image; qemu sources must be qcow2 or raw`, { disk });
}

// An incremental needs the bitmap present and consistent (docs/how-it-works.md#change-tracking-by-source): say which and where.
function checkBitmap(info: ImageInfo, path: string, bitmap: string, disk: number): void {
  const problem = bitmapProblem(info.bitmaps, bitmap);
  if (problem === 'missing') {
    const others = info.bitmaps.map((candidate) => candidate.name).join(', ') || 'none';
    throw new SendenseError(`bitmap '${bitmap}' not found in ${path} (bitmaps there: ${others})`, { disk });
  }
  if (problem === 'inconsistent')
    throw new SendenseError(
      `bitmap '${bitmap}' in ${path} is inconsistent (in-use: the image was not closed cleanly)`,
      { disk },
    );
  if (problem === 'disabled')
    throw new SendenseError(`bitmap '${bitmap}' in ${path} is disabled (it stopped recording writes)`, { disk });
}

// Registered the moment it is taken; the copy's end gives it back whatever happened.
function giveBack(context: Pick<EndpointContext, 'cleanup'>, what: string, undo: () => Promise<void> | void): void {
  context.cleanup.push({ what, when: 'always', step: 'transfer', run: async () => undo() });
}
