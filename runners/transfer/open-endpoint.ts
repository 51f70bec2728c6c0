// Opens the NBD connections of one side of a disk: for qemu:/file: endpoints it first starts
// the transfer's own qemu-nbd. Connection 0 is the control connection (block status).

import { SendenseError } from '../../src/errors.js';
import {
  BASE_ALLOCATION,
  DIRTY_BITMAP_PREFIX,
  NbdConnection,
  parseNbdUrl,
  type NbdAddress,
} from '../../src/nbd/index.js';
import type { TransferSource, TransferTarget } from '../../src/wire/index.js';
import { giveBack } from './give-back.js';
import { serveImage } from './serve-image.js';
import type { EndpointContext } from './endpoint-context.js';
export type { EndpointContext } from './endpoint-context.js';

/** The control connection, where its server is, and for an nbd: endpoint the extras already asked for. */
interface FirstConnection {
  readonly first: NbdConnection;
  readonly address: NbdAddress;
  readonly extras?: Promise<PromiseSettledResult<NbdConnection>[]>;
}

// Extra connections must not hang on a server that takes no more clients.
const EXTRA_HANDSHAKE_TIMEOUT_MS = 2000;

export async function openEndpoint(
  endpoint: Exclude<TransferSource, { kind: 'vsphere' }> | TransferTarget,
  context: EndpointContext,
): Promise<NbdConnection[]> {
  const metaContexts = metaContextsFor(context);
  const { first, address, extras }: FirstConnection =
    endpoint.kind === 'nbd'
      ? await connectServer(endpoint.url, context, metaContexts)
      : await serveImage(endpoint, context, metaContexts);
  const connections = [first];
  for (const extra of await (extras ?? openExtras(address, context.connections - 1))) {
    if (extra.status !== 'fulfilled') continue;
    connections.push(extra.value);
    giveBack(context, `NBD connection to ${extra.value.where}`, () => extra.value.close());
  }
  checkOffered(first, context);
  return connections;
}

// An incremental's target too: its backing chain is the parent point, whose data a shrink can leave stale (unseen-zeroes.ts).
function metaContextsFor(context: EndpointContext): string[] {
  if (context.role === 'source')
    return [BASE_ALLOCATION, ...(context.bitmap === undefined ? [] : [DIRTY_BITMAP_PREFIX + context.bitmap])];
  return context.bitmap === undefined ? [] : [BASE_ALLOCATION];
}

// An nbd: endpoint's server, run by someone else: its first connection, and the extras already asked for.
async function connectServer(
  url: string,
  context: EndpointContext,
  metaContexts: readonly string[],
): Promise<FirstConnection> {
  // Checked when the request was read (src/wire/transfer-request.ts).
  const address = parseNbdUrl(url);
  // The extra connections start once the server has greeted the first (so they never take the
  // slot it waits for): over TCP each handshake stalls ~40 ms at qemu-nbd's NBD_OPT_GO reply (its
  // second write waits for our delayed ACK), and one after another that was paid twice per disk.
  const started: { extras?: Promise<PromiseSettledResult<NbdConnection>[]> } = {};
  const startExtras = (): void => void (started.extras ??= openExtras(address, context.connections - 1));
  const first = await NbdConnection.connect(address, { metaContexts, onGreeting: startExtras }).catch(
    (error: unknown) => {
      void started.extras?.then(closeAll);
      throw context.role === 'source' ? withPersistentHint(error, context.disk) : error;
    },
  );
  giveBack(context, `NBD connection to ${url}`, () => first.close());
  return { first, address, extras: started.extras };
}

// The source offers the bitmap's context, the target takes writes: else nothing is copied.
function checkOffered(first: NbdConnection, context: EndpointContext): void {
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
