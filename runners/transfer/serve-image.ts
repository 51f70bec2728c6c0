// Serves a qemu:/file: endpoint's image with the transfer's own qemu-nbd and opens the first
// connection to it; the image is checked (image-check.ts) before anything is copied.

import { join } from 'node:path';
import { NbdConnection, describeNbdAddress, type NbdAddress } from '../../src/nbd/index.js';
import { startQemuNbd, type QemuNbd } from '../../src/qemu/qemu-nbd.js';
import type { TransferImageFormat } from '../../src/wire/index.js';
import { giveBack } from './give-back.js';
import { checkedFormat, type ImageEndpoint } from './image-check.js';
import type { EndpointContext } from './endpoint-context.js';

const QEMU_NBD_READY_TIMEOUT_MS = 15_000;
const QEMU_NBD_STOP_GRACE_MS = 3000;

export async function serveImage(
  endpoint: ImageEndpoint,
  context: EndpointContext,
  metaContexts: readonly string[],
): Promise<{ readonly first: NbdConnection; readonly address: NbdAddress }> {
  const checked = checkedFormat(endpoint, context.disk, context.bitmap);
  // With the format named (the hub passes the plan's), qemu-nbd starts while the image is
  // checked: both only read it, and nothing is copied before the check passed. Probed, the
  // format comes first.
  const format = endpoint.format ?? (await checked);
  const socket = join(context.dir, `qemu-nbd-${context.disk}-${context.role}.sock`);
  const starting = startServer(endpoint.path, format, socket, context);
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
  const address: NbdAddress = Object.freeze({ kind: 'unix', socketPath: socket, exportName: 'disk' });
  // Kept open to the end: a qemu-nbd that is not persistent exits after its last client.
  const first = await NbdConnection.connect(address, { metaContexts });
  giveBack(context, `NBD connection to ${describeNbdAddress(address)}`, () => first.close());
  return { first, address };
}

function startServer(
  file: string,
  format: TransferImageFormat,
  socket: string,
  context: EndpointContext,
): Promise<QemuNbd> {
  const readOnly = context.role === 'source';
  return startQemuNbd({
    file,
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
}
