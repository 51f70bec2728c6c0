// Does an NBD export offer the `qemu:dirty-bitmap:<name>` meta context an nbd source's plan names?
// Asked with qemu-img on the node (the hub may not reach the export): qemu's NBD client refuses to
// open the export when the x-dirty-bitmap context it asks for is not offered.

import { parseNbdUrl } from '../nbd/nbd-url.js';
import { runLocal, type CommandRunner } from './command-runner.js';

// Call after the export opened without the context (so a failure here is the context, not the link).
export async function nbdOffersDirtyBitmap(
  url: string,
  name: string,
  runner: CommandRunner = runLocal,
): Promise<boolean> {
  const result = await runner(['qemu-img', 'info', '--output=json', '--image-opts', nbdImageOpts(url, name)]);
  return result.exitCode === 0;
}

// --image-opts of a raw NBD export with the dirty-bitmap context; ',' in values doubled (QemuOpts).
function nbdImageOpts(url: string, name: string): string {
  const address = parseNbdUrl(url);
  const quote = (value: string | number) => String(value).replaceAll(',', ',,');
  const server =
    address.kind === 'tcp'
      ? [`file.server.type=inet`, `file.server.host=${quote(address.host)}`, `file.server.port=${address.port}`]
      : [`file.server.type=unix`, `file.server.path=${quote(address.socketPath)}`];
  return [
    'driver=raw',
    'file.driver=nbd',
    ...server,
    `file.export=${quote(address.exportName)}`,
    `file.x-dirty-bitmap=${quote(`qemu:dirty-bitmap:${name}`)}`,
  ].join(',');
}
