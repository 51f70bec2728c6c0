// Opens the NBD connections of one side of a disk: for qemu:/file: endpoints it first starts
// the transfer's own qemu-nbd. Connection 0 is the control connection (block status).

import { existsSync } from 'node:fs';
import { SendenseError } from '../../src/errors.js';
import { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, NbdConnection, describeNbdAddress, type NbdAddress } from '../../src/nbd/index.js';
import type { UndoStack } from '../../src/engine/undo-stack.js';
import { checkBitmap, readImageInfo } from './qemu-img-info.js';
import { startQemuNbdChild } from './qemu-nbd-child.js';
import type { Endpoint } from './transfer-args.js';
import type { TransferOutput } from './transfer-output.js';

export interface EndpointContext {
  readonly disk: number;
  readonly role: 'source' | 'target';
  readonly bitmap?: string;
  readonly connections: number;
  readonly dir: string;
  /** What the disk's copy took, given back when it ends (every entry 'always'). */
  readonly cleanup: UndoStack;
  readonly output: TransferOutput;
}

// Extra connections must not hang on a server that takes no more clients.
const EXTRA_HANDSHAKE_TIMEOUT_MS = 2000;

export async function openEndpoint(endpoint: Endpoint, context: EndpointContext): Promise<NbdConnection[]> {
  const metaContexts = context.role === 'source' ? [BASE_ALLOCATION, ...(context.bitmap === undefined ? [] : [DIRTY_BITMAP_PREFIX + context.bitmap])] : [];
  let first: NbdConnection;
  let address: NbdAddress;
  let extras: Promise<PromiseSettledResult<NbdConnection>[]> | undefined;
  if (endpoint.kind === 'nbd') {
    address = endpoint.address;
    // The extra connections start once the server has greeted the first (so they never take the
    // slot it waits for): over TCP each handshake stalls ~40 ms at qemu-nbd's NBD_OPT_GO reply (its
    // second write waits for our delayed ACK), and one after another that was paid twice per disk.
    const extraAddress = address;
    const startExtras = (): void => void (extras ??= openExtras(extraAddress, context.connections - 1));
    first = await NbdConnection.connect(address, { metaContexts, onGreeting: startExtras }).catch((error: unknown) => {
      void extras?.then(closeAll);
      throw context.role === 'source' ? withPersistentHint(error, context.disk) : error;
    });
    giveBack(context, `NBD connection to ${endpoint.text}`, () => first.close());
  } else {
    const readOnly = context.role === 'source';
    let checked: Promise<string>;
    if (endpoint.kind === 'qemu') {
      const { path, format: named } = endpoint;
      checked = readImageInfo(path, context.disk, named).then((info) => {
        const format = named ?? info.format;
        if (context.bitmap !== undefined) {
          if (format !== 'qcow2') throw new SendenseError(`${path} is a ${format} image: it has no bitmaps, so only a full backup is possible`, { disk: context.disk });
          checkBitmap(info, path, context.bitmap, context.disk);
        }
        return format;
      });
    } else {
      if (!existsSync(endpoint.path)) throw new SendenseError(`target image ${endpoint.path} does not exist`, { disk: context.disk });
      checked = Promise.resolve(endpoint.format);
    }
    // With the format named (the hub passes the plan's), qemu-nbd starts while the image is
    // checked: both only read it, and nothing is copied before the check passed. Probed, the
    // format comes first.
    const format = endpoint.format ?? (await checked);
    const starting = startQemuNbdChild({
      path: endpoint.path,
      format,
      readOnly,
      bitmap: readOnly ? context.bitmap : undefined,
      shared: context.connections,
      dir: context.dir,
      disk: context.disk,
      connectOptions: { metaContexts },
    });
    const [check, start] = await Promise.allSettled([checked, starting]);
    if (check.status === 'rejected') {
      // The check's error says why (a missing bitmap, a raw image), whatever qemu-nbd made of it.
      if (start.status === 'fulfilled') {
        await start.value.firstConnection.close();
        await start.value.stop();
      }
      throw check.reason;
    }
    if (start.status === 'rejected') throw start.reason;
    const child = start.value;
    giveBack(context, `qemu-nbd ${child.pid}`, async () => {
      await child.stop();
      context.output.debug({ disk: context.disk, message: 'qemu-nbd stopped', pid: child.pid });
    });
    context.output.debug({ disk: context.disk, message: 'qemu-nbd started', pid: child.pid, role: context.role, path: endpoint.path });
    address = child.address;
    first = child.firstConnection;
    giveBack(context, `NBD connection to ${describeNbdAddress(address)}`, () => first.close());
  }
  const connections = [first];
  for (const extra of await (extras ?? openExtras(address, context.connections - 1))) {
    if (extra.status !== 'fulfilled') continue;
    connections.push(extra.value);
    giveBack(context, `NBD connection to ${extra.value.where}`, () => extra.value.close());
  }
  if (context.bitmap !== undefined && context.role === 'source' && !first.hasMetaContext(DIRTY_BITMAP_PREFIX + context.bitmap)) {
    throw new SendenseError(`bitmap '${context.bitmap}' not offered by ${first.where} (no ${DIRTY_BITMAP_PREFIX}${context.bitmap} context)`, { disk: context.disk });
  }
  if (context.role === 'target' && first.readOnly) throw new SendenseError(`target ${first.where} is read-only`, { disk: context.disk });
  return connections;
}

// A server that takes no more clients leaves an extra unanswered: it gives up after a while.
function openExtras(address: NbdAddress, count: number): Promise<PromiseSettledResult<NbdConnection>[]> {
  return Promise.allSettled(Array.from({ length: count }, () => NbdConnection.connect(address, { handshakeTimeoutMs: EXTRA_HANDSHAKE_TIMEOUT_MS })));
}

function closeAll(settled: readonly PromiseSettledResult<NbdConnection>[]): void {
  for (const extra of settled) if (extra.status === 'fulfilled') void extra.value.close().catch(() => {});
}

// The hub opened the source moments ago (its size): a refused connection now is most often a
// qemu-nbd without -t, which exits after its first client.
function withPersistentHint(error: unknown, disk: number): unknown {
  if (!(error instanceof SendenseError) || !/ECONNREFUSED|ENOENT/.test(error.message)) return error;
  return new SendenseError(`${error.message} (a qemu-nbd serving it needs -t/--persistent: without it, it exits after its first client)`, { disk, cause: error });
}

// Registered the moment it is taken; the copy's end gives it back whatever happened.
function giveBack(context: Pick<EndpointContext, 'cleanup'>, what: string, undo: () => Promise<void> | void): void {
  context.cleanup.push({ what, when: 'always', step: 'transfer', run: async () => undo() });
}
